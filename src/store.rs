//! The store handle the domain writes through: the database, the channel
//! event hub that delivers what a write recorded, and the turns writers of
//! one channel take. Domain functions take a `&Store` (and the services they
//! use besides, such as password hashing), never the application state.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::db::Db;
use crate::db::on_db;
use crate::events::{self, EventKind, Hub, Publisher};
use crate::principal_cache::PrincipalCache;
use crate::write_gate::{WriteGates, WriteTurn};
use charter_runtime::Problem;

/// Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Store {
    pub db: Db,
    /// Live channel events of this process (and, with PostgreSQL, of every
    /// instance on the same database).
    pub events: Hub,
    /// Writers of one channel take turns here before taking a connection.
    pub write_gates: Arc<WriteGates>,
}

impl Store {
    pub fn new(db: Db, events: Hub, write_gates: WriteGates) -> Store {
        Store {
            db,
            events,
            write_gates: Arc::new(write_gates),
        }
    }

    /// After a change that ends trust in cached principals or profiles
    /// (a revocation, a role or profile change) has committed: this
    /// instance forgets them at once, and every other instance sharing the
    /// database is told to before this returns (see
    /// [`Hub::announce_invalidation`]).
    pub async fn forget_principals<A: Clone, U: Clone>(&self, principals: &PrincipalCache<A, U>) {
        principals.forget_all();
        self.events.announce_invalidation().await;
    }

    /// Starts a write to one channel: waits for its turn among the channel's
    /// writers (taken before a database connection; see [`crate::write_gate`]),
    /// held until the returned turn is dropped, and makes the [`Publisher`] of
    /// its events.
    pub(crate) async fn start_write(
        &self,
        channel: Uuid,
    ) -> Result<(WriteTurn<'_>, Publisher), Problem> {
        let turn = self.write_gates.enter(channel).await?;
        Ok((turn, self.events.publisher(channel)))
    }

    /// Deletes one row of `channel` (`delete` binds `first` then `second`) and
    /// records `kind` with `data` in the same transaction, then publishes the
    /// event. `false`, recording nothing, when the channel is gone or the
    /// statement deleted no row (deleted meanwhile: that deletion recorded the
    /// event).
    pub(crate) async fn delete_recorded(
        &self,
        channel: Uuid,
        delete: &'static str,
        (first, second): (Uuid, Uuid),
        kind: EventKind,
        data: Value,
    ) -> Result<bool, Problem> {
        let (_turn, publisher) = self.start_write(channel).await?;
        let event = on_db!(&self.db, pool => async {
            let mut tx = pool.begin().await?;
            // The channel's row first (the lock order in `events`).
            let Some(seq) = events::reserve(&mut *tx, channel).await? else {
                tx.rollback().await?;
                return Ok(None);
            };
            let deleted = sqlx::query(delete)
                .bind(first)
                .bind(second)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            let event = events::record(&mut *tx, channel, seq, kind, data).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Some(event))
        }.await)?;
        let deleted = event.is_some();
        publisher.publish(event);
        Ok(deleted)
    }
}
