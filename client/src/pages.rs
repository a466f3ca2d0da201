//! Every cursor-paginated list of v2 as a [`Stream`] of its items: a page
//! is fetched when the stream is read past the previous one, and the
//! stream ends after the page without `next_cursor`. An error ends the
//! stream after it is yielded.
//!
//! ```no_run
//! use charter_client::pages::Pages;
//! use futures::TryStreamExt;
//!
//! # async fn run(client: charter_client::v2::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let channels: Vec<_> = client.all_channels(None).try_collect().await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::num::NonZeroU32;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::Error;
use crate::v2::{self, types};

/// A page's items and the cursor of the next page, if any.
type Page<T> = Result<(Vec<T>, Option<String>), Error<types::Problem>>;

/// Where a listing stands.
enum Position {
    Start,
    After(String),
    End,
}

/// The items of every page `fetch` returns, from the first (no cursor) on.
pub fn paginate<T, F, Fut>(fetch: F) -> impl Stream<Item = Result<T, Error<types::Problem>>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Page<T>>,
{
    futures::stream::try_unfold(
        (fetch, Position::Start),
        |(mut fetch, position)| async move {
            let cursor = match position {
                Position::Start => None,
                Position::After(cursor) => Some(cursor),
                Position::End => return Ok::<_, Error<types::Problem>>(None),
            };
            let (items, next) = fetch(cursor).await?;
            let position = next.map_or(Position::End, Position::After);
            let items = futures::stream::iter(items.into_iter().map(Ok));
            Ok(Some((items, (fetch, position))))
        },
    )
    .try_flatten()
}

/// The cursor-paginated lists of a v2 client as streams of items;
/// `page_size` is each request's `limit` (the server's default when `None`).
/// The streams are boxed, so `.next()` works on them without pinning.
pub trait Pages {
    /// `listUsers`, every page.
    fn all_users(
        &self,
        page_size: Option<NonZeroU32>,
    ) -> BoxStream<'_, Result<types::User, Error<types::Problem>>>;

    /// `listChannels`, every page.
    fn all_channels(
        &self,
        page_size: Option<NonZeroU32>,
    ) -> BoxStream<'_, Result<types::Channel, Error<types::Problem>>>;

    /// `listMessages` of one channel, every page (newest first, as listed).
    fn all_messages(
        &self,
        channel: Uuid,
        page_size: Option<NonZeroU32>,
    ) -> BoxStream<'_, Result<types::Message, Error<types::Problem>>>;
}

impl Pages for v2::Client {
    fn all_users(
        &self,
        page_size: Option<NonZeroU32>,
    ) -> BoxStream<'_, Result<types::User, Error<types::Problem>>> {
        paginate(move |cursor: Option<String>| async move {
            let mut request = self.list_users();
            if let Some(limit) = page_size {
                request = request.limit(limit);
            }
            if let Some(cursor) = cursor {
                request = request.cursor(cursor);
            }
            let page = request.send().await?.into_inner();
            Ok((page.items, page.next_cursor.map(|c| c.to_string())))
        })
        .boxed()
    }

    fn all_channels(
        &self,
        page_size: Option<NonZeroU32>,
    ) -> BoxStream<'_, Result<types::Channel, Error<types::Problem>>> {
        paginate(move |cursor: Option<String>| async move {
            let mut request = self.list_channels();
            if let Some(limit) = page_size {
                request = request.limit(limit);
            }
            if let Some(cursor) = cursor {
                request = request.cursor(cursor);
            }
            let page = request.send().await?.into_inner();
            Ok((page.items, page.next_cursor.map(|c| c.to_string())))
        })
        .boxed()
    }

    fn all_messages(
        &self,
        channel: Uuid,
        page_size: Option<NonZeroU32>,
    ) -> BoxStream<'_, Result<types::Message, Error<types::Problem>>> {
        paginate(move |cursor: Option<String>| async move {
            let mut request = self.list_messages().channel_id(channel);
            if let Some(limit) = page_size {
                request = request.limit(limit);
            }
            if let Some(cursor) = cursor {
                request = request.cursor(cursor);
            }
            let page = request.send().await?.into_inner();
            Ok((page.items, page.next_cursor.map(|c| c.to_string())))
        })
        .boxed()
    }
}
