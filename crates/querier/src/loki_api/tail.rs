//! `GET /loki/api/v1/tail`: Loki's live tail over a websocket, as Grafana's "Live" mode and
//! `logcli --tail` use it.
//!
//! Parameters (`query`, `start`, `limit`, `delay_for`) are checked before the upgrade and a
//! bad one is a plain-text 400, as in Loki. After the upgrade the session first sends the
//! newest `limit` entries in `[start, now - delay_for)` oldest first, then polls the
//! [`LogsSource`](super::LogsSource) every `tail_poll_interval` up to `now - delay_for`,
//! looking back [`LATE_ENTRY_WINDOW`] each time for entries that became visible late and
//! skipping every entry already sent (by time, final labels and line). A frame goes out
//! whenever there is something: `{"streams":[{"stream":{..},"values":[["<ns>","<line>"]]}]}`
//! with at most 100 entries. Entries go through the whole log pipeline of the query.
//!
//! A poll returns at most [`POLL_MAX_ENTRIES`] new entries; a tail that falls behind polls
//! again at once and catches up rather than dropping entries, so `dropped_entries` never
//! appears. Unlike Loki, whose ingesters forward every push to the tailers, an entry that
//! becomes visible more than `delay_for` + [`LATE_ENTRY_WINDOW`] after its own time is not
//! tailed. The session ends when the client closes, and with a close frame (1011, the reason
//! as Loki words it) on a metric query, a data-layer error, too many tails of the tenant, or
//! after `tail_max_duration`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use sextant_logs::logql::ast::{Expr, LogExpr};
use sextant_logs::logql::eval::{eval_logs, Direction, Entry, Stream};
use sextant_logs::logql::parse::parse_expr;
use sextant_model::{Labels, TenantId};
use tokio::time::Instant;

use super::json::push_streams;
use super::params;
use super::queryable::SourceLogQueryable;
use super::{LokiApiState, LokiError, LokiTenant};
use crate::api::params::Params;

/// How often a tail polls by default.
pub const DEFAULT_TAIL_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Loki's `maxDelayForInTailing`, in seconds.
pub const MAX_DELAY_FOR_SECONDS: i64 = 5;
/// Entries in one frame (Loki's tailer sends at most 100 per response).
pub const MAX_ENTRIES_PER_FRAME: usize = 100;
/// Entries one poll returns at most; a full poll is followed by another at once.
pub const POLL_MAX_ENTRIES: usize = 1000;
/// How late (after `now - delay_for`) an entry may become visible and still be tailed:
/// each poll looks this far back again, skipping what was sent.
pub const LATE_ENTRY_WINDOW: Duration = Duration::from_secs(10);

const NANOS_PER_SECOND: i64 = 1_000_000_000;
/// Longest close reason: a close frame's payload is at most 125 bytes, 2 of them the code.
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// The parameters of one tail, read before the upgrade.
#[derive(Debug, Clone)]
struct TailRequest {
    expr: Expr,
    start_ns: i64,
    limit: usize,
    delay_ns: i64,
}

impl TailRequest {
    /// Loki's `ParseTailQuery`: the query must parse, `limit` and `start` as for queries,
    /// `delay_for` whole seconds, at most [`MAX_DELAY_FOR_SECONDS`].
    fn parse(params: &Params, now_ns: i64, max_limit: usize) -> Result<Self, LokiError> {
        let expr = parse_expr(params.get("query")).map_err(|e| LokiError::from_eval(e.into()))?;
        let limit = params::limit(params)?;
        if max_limit > 0 && limit > max_limit {
            return Err(LokiError::bad_request(format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max_limit})"
            )));
        }
        let (start_ns, _) = params::bounds(params, now_ns)?;
        let delay = match params.get("delay_for") {
            "" => 0,
            value => params::parse_go_int(value, "ParseInt").map_err(LokiError::bad_request)?,
        };
        // Loki reads it as an unsigned number: a negative one is "greater" too.
        if !(0..=MAX_DELAY_FOR_SECONDS).contains(&delay) {
            return Err(LokiError::bad_request(format!(
                "delay_for can't be greater than {MAX_DELAY_FOR_SECONDS}"
            )));
        }
        Ok(TailRequest {
            expr,
            start_ns,
            limit,
            delay_ns: delay * NANOS_PER_SECOND,
        })
    }
}

/// `GET /tail`: checks the parameters, then upgrades to a websocket and tails.
pub async fn tail(
    State(state): State<LokiApiState>,
    LokiTenant(tenant): LokiTenant,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let params = Params::parse(query.as_deref(), None);
    let max_limit = state.config.max_entries_limit_per_query;
    let request = match TailRequest::parse(&params, (state.now_ns)(), max_limit) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade.on_upgrade(move |socket| run(state, tenant, request, socket))
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// The client closed the connection or it broke: nothing more to send.
    ClientLeft,
    /// Ends with a close frame carrying this reason.
    Close(String),
}

impl From<LokiError> for End {
    fn from(e: LokiError) -> Self {
        End::Close(e.message)
    }
}

async fn run(state: LokiApiState, tenant: TenantId, request: TailRequest, mut socket: WebSocket) {
    match session(&state, &tenant, request, &mut socket).await {
        End::ClientLeft => tracing::debug!(%tenant, "tail client left"),
        End::Close(reason) => {
            tracing::debug!(%tenant, reason = %reason, "tail closed");
            let frame = CloseFrame {
                code: close_code::ERROR,
                reason: truncate_reason(&reason).into(),
            };
            // The client may be gone already; there is nobody left to tell.
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
    }
}

/// Backfill, then poll until the client leaves, an error, or the max duration.
async fn session(
    state: &LokiApiState,
    tenant: &TenantId,
    request: TailRequest,
    socket: &mut WebSocket,
) -> End {
    let Expr::Log(expr) = request.expr else {
        return End::Close("only log selector is supported".to_string());
    };
    let _slot = match state
        .active_tails
        .acquire(tenant, state.config.max_concurrent_tail_requests)
    {
        Ok(slot) => slot,
        Err(reason) => return End::Close(reason),
    };
    let give_up_at = Instant::now() + state.config.tail_max_duration;
    let mut tailer = Tailer {
        state: state.clone(),
        tenant: tenant.clone(),
        expr: Arc::new(expr),
        delay_ns: request.delay_ns,
        cursor: TailCursor::default(),
    };
    match tailer.backfill(request.start_ns, request.limit).await {
        Ok(entries) if send_entries(socket, &entries).await.is_err() => return End::ClientLeft,
        Ok(_) => {}
        Err(e) => return e.into(),
    }
    let poll_interval = state.config.tail_poll_interval;
    let mut next_poll = Instant::now() + poll_interval;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(give_up_at) => {
                return End::Close("reached tail max duration limit".to_string());
            }
            message = socket.recv() => match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return End::ClientLeft,
                Some(Ok(_)) => continue,
            },
            _ = tokio::time::sleep_until(next_poll) => {}
        }
        let (entries, behind) = match tailer.poll().await {
            Ok(polled) => polled,
            Err(e) => return e.into(),
        };
        let sent = if entries.is_empty() {
            // Nothing new: a ping finds dead connections, as Loki's does.
            socket.send(Message::Ping(Default::default())).await
        } else {
            send_entries(socket, &entries).await
        };
        if sent.is_err() {
            return End::ClientLeft;
        }
        // A tail that is behind polls again at once.
        next_poll = Instant::now()
            + if behind {
                Duration::ZERO
            } else {
                poll_interval
            };
    }
}

/// Sends entries (in time order) as frames of at most [`MAX_ENTRIES_PER_FRAME`].
async fn send_entries(
    socket: &mut WebSocket,
    entries: &[(Labels, Entry)],
) -> Result<(), axum::Error> {
    for chunk in entries.chunks(MAX_ENTRIES_PER_FRAME) {
        socket
            .send(Message::Text(render_frame(chunk).into()))
            .await?;
    }
    Ok(())
}

/// `{"streams":[..]}`: the entries grouped by stream in order of first appearance, each
/// stream's entries in time order.
fn render_frame(entries: &[(Labels, Entry)]) -> String {
    let mut streams: Vec<Stream> = Vec::new();
    let mut index: HashMap<&Labels, usize> = HashMap::new();
    for (labels, entry) in entries {
        let at = *index.entry(labels).or_insert_with(|| {
            streams.push(Stream {
                labels: labels.clone(),
                entries: Vec::new(),
            });
            streams.len() - 1
        });
        streams[at].entries.push(entry.clone());
    }
    let mut out = String::from("{\"streams\":");
    push_streams(&mut out, &streams);
    out.push('}');
    out
}

/// A close reason cut to what fits in a close frame, at a character boundary.
fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(MAX_CLOSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

/// Where the next poll starts, and what was sent since.
#[derive(Debug, Clone, Default)]
struct TailCursor {
    /// Polls start here (inclusive); it only moves forward.
    from_ns: i64,
    /// The entries sent with a time at or after `from_ns`: (time, final labels, line).
    sent: HashSet<(i64, Labels, String)>,
}

impl TailCursor {
    fn starting_at(from_ns: i64) -> Self {
        TailCursor {
            from_ns,
            sent: HashSet::new(),
        }
    }

    /// The entries of `streams` at or after `from_ns` not sent yet, in time order; they
    /// count as sent from now on.
    fn take_unsent(&mut self, streams: Vec<Stream>) -> Vec<(Labels, Entry)> {
        let mut entries: Vec<(Labels, Entry)> = streams
            .into_iter()
            .flat_map(|s| {
                let labels = s.labels;
                s.entries.into_iter().map(move |e| (labels.clone(), e))
            })
            .collect();
        entries.sort_by_key(|(_, e)| e.ts_ns);
        entries.retain(|(labels, entry)| {
            entry.ts_ns >= self.from_ns
                && self
                    .sent
                    .insert((entry.ts_ns, labels.clone(), entry.line.clone()))
        });
        entries
    }

    /// Moves the start forward to `from_ns` (never back), forgetting what was sent before.
    fn move_to(&mut self, from_ns: i64) {
        if from_ns > self.from_ns {
            self.from_ns = from_ns;
            self.sent.retain(|(ts, _, _)| *ts >= from_ns);
        }
    }
}

/// The number of entries and the newest time in `streams`.
fn count_and_newest(streams: &[Stream]) -> (usize, Option<i64>) {
    let entries = streams.iter().flat_map(|s| &s.entries);
    let count = streams.iter().map(|s| s.entries.len()).sum();
    (count, entries.map(|e| e.ts_ns).max())
}

/// Where polls ending at `end_ns` start at the latest: [`LATE_ENTRY_WINDOW`] before it.
fn late_window_start(end_ns: i64) -> i64 {
    let window = i64::try_from(LATE_ENTRY_WINDOW.as_nanos()).unwrap_or(i64::MAX);
    end_ns.saturating_sub(window)
}

/// One tail's query and position.
struct Tailer {
    state: LokiApiState,
    tenant: TenantId,
    expr: Arc<LogExpr>,
    delay_ns: i64,
    cursor: TailCursor,
}

impl Tailer {
    /// The newest `limit` entries in `[start, now - delay)`, oldest first. Later polls look
    /// back [`LATE_ENTRY_WINDOW`] from there, but not before the oldest entry sent when the
    /// limit left older ones out.
    async fn backfill(
        &mut self,
        start_ns: i64,
        limit: usize,
    ) -> Result<Vec<(Labels, Entry)>, LokiError> {
        let end_ns = self.end_ns();
        self.cursor = TailCursor::starting_at(start_ns);
        let mut entries = Vec::new();
        let mut floor = start_ns;
        if end_ns > start_ns {
            let streams = self
                .select(start_ns, end_ns, limit, Direction::Backward)
                .await?;
            let (returned, _) = count_and_newest(&streams);
            entries = self.cursor.take_unsent(streams);
            if returned >= limit {
                floor = entries.first().map_or(end_ns, |(_, e)| e.ts_ns);
            }
        }
        self.cursor.move_to(floor.max(late_window_start(end_ns)));
        Ok(entries)
    }

    /// Entries from the cursor up to `now - delay` not sent yet, and whether the poll was
    /// cut short by [`POLL_MAX_ENTRIES`] (more are waiting).
    async fn poll(&mut self) -> Result<(Vec<(Labels, Entry)>, bool), LokiError> {
        let end_ns = self.end_ns();
        if end_ns <= self.cursor.from_ns {
            return Ok((Vec::new(), false));
        }
        // What was sent in the window comes back too: ask for that many more.
        let limit = POLL_MAX_ENTRIES + self.cursor.sent.len();
        let streams = self
            .select(self.cursor.from_ns, end_ns, limit, Direction::Forward)
            .await?;
        let (returned, newest) = count_and_newest(&streams);
        let entries = self.cursor.take_unsent(streams);
        let behind = returned >= limit;
        match newest {
            // Everything before the newest entry returned was returned: go on from there.
            Some(newest) if behind => self.cursor.move_to(newest),
            _ => self.cursor.move_to(late_window_start(end_ns)),
        }
        Ok((entries, behind))
    }

    fn end_ns(&self) -> i64 {
        (self.state.now_ns)().saturating_sub(self.delay_ns)
    }

    /// Evaluates the log query over `[start, end)` on a blocking thread, under the query
    /// timeout and a query slot.
    async fn select(
        &self,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<Vec<Stream>, LokiError> {
        let deadline = Instant::now() + self.state.config.query_timeout;
        let queryable = SourceLogQueryable::new(
            self.state.source.clone(),
            self.tenant.clone(),
            tokio::runtime::Handle::current(),
            deadline.into_std(),
        );
        let slot =
            tokio::time::timeout_at(deadline, self.state.query_slots.clone().acquire_owned());
        let permit = match slot.await {
            Err(_) => return Err(LokiError::timeout()),
            Ok(Err(closed)) => return Err(LokiError::internal(closed.to_string())),
            Ok(Ok(permit)) => permit,
        };
        let expr = self.expr.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let result = eval_logs(&queryable, &expr, start_ns, end_ns, limit, direction);
            (result, queryable.take_source_error(), queryable.timed_out())
        });
        match tokio::time::timeout_at(deadline, task).await {
            Err(_) => Err(LokiError::timeout()),
            Ok(Err(join)) => Err(LokiError::internal(format!(
                "tail evaluation failed: {join}"
            ))),
            Ok(Ok((Ok(streams), _, _))) => Ok(streams),
            Ok(Ok((Err(_), _, true))) => Err(LokiError::timeout()),
            Ok(Ok((Err(_), Some(source_error), _))) => Err(LokiError::from_source(source_error)),
            Ok(Ok((Err(e), None, _))) => Err(LokiError::from_eval(e)),
        }
    }
}

/// Tails running per tenant, for Loki's `max_concurrent_tail_requests`.
#[derive(Debug, Clone, Default)]
pub struct LokiActiveTails(Arc<Mutex<HashMap<TenantId, usize>>>);

impl LokiActiveTails {
    /// Tails of `tenant` running now.
    pub fn count(&self, tenant: &TenantId) -> usize {
        self.0.lock().get(tenant).copied().unwrap_or(0)
    }

    /// Counts one more tail of `tenant` until the guard drops; Loki's message when `max`
    /// run already (0 = no limit).
    fn acquire(&self, tenant: &TenantId, max: usize) -> Result<TailSlot, String> {
        let mut tails = self.0.lock();
        let running = tails.entry(tenant.clone()).or_insert(0);
        if max > 0 && *running >= max {
            return Err(format!(
                "max concurrent tail requests limit exceeded, count > limit ({} > {max})",
                *running + 1
            ));
        }
        *running += 1;
        Ok(TailSlot {
            tails: self.clone(),
            tenant: tenant.clone(),
        })
    }
}

/// One running tail; uncounted on drop.
struct TailSlot {
    tails: LokiActiveTails,
    tenant: TenantId,
}

impl Drop for TailSlot {
    fn drop(&mut self) {
        let mut tails = self.tails.0.lock();
        if let Some(running) = tails.get_mut(&self.tenant) {
            *running = running.saturating_sub(1);
            if *running == 0 {
                tails.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests;
