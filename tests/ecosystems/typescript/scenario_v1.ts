// Charter v1 (deprecated) through openapi-fetch, typed by what
// openapi-typescript generated from /openapi/v1.json (./v1.ts).
//
// Usage: node scenario_v1.js BASE_URL
//
// Register, log in, read the caller's own profile and find it in the user
// listing. The first result that differs from the contract throws, and the
// process exits non-zero.

import createClient from "openapi-fetch";
import { check, expect, randomHex } from "./checks.js";
import type { paths } from "./v1.js";

async function main(baseUrl: string): Promise<void> {
  const anonymous = createClient<paths>({ baseUrl });
  const email = `ts1-${randomHex(8)}@example.com`;
  const password = randomHex(18);

  const created = expect(
    await anonymous.POST("/api/v1/users", { body: { name: "TypeScript Legacy", email, password } }),
    "register",
  );
  const token = expect(
    await anonymous.POST("/api/v1/auth/login", { body: { email, password } }),
    "login",
  );
  const user = createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${token.access_token}` },
  });

  const answer = await user.GET("/api/v1/me");
  const me = expect(answer, "me");
  check(me.id === created.id && me.email === email, `me is ${JSON.stringify(me)}`);
  // Every v1 response says that v1 is deprecated.
  check(answer.response.headers.has("deprecation"), "a v1 response without Deprecation");

  for (let offset = 0; ; ) {
    const page = expect(
      await user.GET("/api/v1/users", { params: { query: { limit: 100, offset } } }),
      "users",
    );
    check(page.offset === offset, `asked for offset ${offset}, got ${page.offset}`);
    const ids = page.users.map((u) => u.id);
    check(ids.every((id, i) => i === 0 || ids[i - 1] < id), "users are not ordered by id");
    if (ids.includes(me.id)) break;
    check(page.users.length === page.limit, `${me.id} is not among the users`);
    offset += page.users.length;
  }

  console.log(`typescript v1: user ${me.id} registered, logged in and listed`);
}

const baseUrl = process.argv[2];
if (baseUrl === undefined) throw new Error("usage: node scenario_v1.js BASE_URL");
await main(baseUrl);
