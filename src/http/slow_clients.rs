//! Slow and greedy clients, bounded where actix-web leaves them unbounded.
//!
//! actix-web's `client_request_timeout` (set from
//! `server.request_header_timeout_ms`) answers 408 and closes a connection
//! whose *first* request head is late; after that the connection is only
//! bounded by keep-alive until its next request's first byte, and nothing
//! bounds a request body or counts connections per address. Here:
//!
//! - [`limit`] (middleware, outermost): a request body must arrive within
//!   `server.body_timeout_ms` of its head, else 408 `request_timeout` and the
//!   connection closes.
//! - [`on_connect`] (listener hook): a client address holds at most
//!   `server.connections_per_address_max` connections (one more is shut down
//!   as it is accepted); and a watchdog closes a connection that has been
//!   without a request in progress for [`KEEP_ALIVE`] plus the header timeout:
//!   the next request on a kept-alive connection started arriving and did not
//!   finish its head in time (trickled headers).

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Shutdown};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::rt::net::TcpStream;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpResponse};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::config::ServerSettings;
use crate::error::{AppError, ErrorBody};

/// How long an idle connection is kept open for its next request (actix's
/// default, set explicitly because the watchdog's bound depends on it).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// How long a client of a Bazaar server (the demo, the tests) may keep an idle
/// pooled connection: well inside [`KEEP_ALIVE`], so that it never sends a
/// request on a connection the server is closing at that moment (the request
/// would be lost as an incomplete message).
pub const CLIENT_POOL_IDLE: Duration = Duration::from_secs(2);

/// The slow-client bounds, from `server.*`; app data for [`limit`].
#[derive(Debug, Clone, Copy)]
pub struct SlowClientLimits {
    pub request_header_timeout: Duration,
    pub body_timeout: Duration,
    pub connections_per_address_max: Option<usize>,
}

impl SlowClientLimits {
    pub fn new(server: &ServerSettings) -> Self {
        Self {
            request_header_timeout: server.request_header_timeout,
            body_timeout: server.body_timeout,
            connections_per_address_max: server.connections_per_address_max,
        }
    }
}

/// The listener hook (`HttpServer::on_connect`): counts the connection
/// against its address (shutting it down when the address is at its cap) and
/// starts its watchdog. Plain TCP and TLS (rustls 0.23) streams alike.
pub fn on_connect(limits: SlowClientLimits) -> impl Fn(&dyn Any, &mut Extensions) + Send + Sync {
    let counts: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    move |io, extensions| {
        let Some(stream) = tcp_stream(io) else {
            return;
        };
        let slot = match (limits.connections_per_address_max, stream.peer_addr()) {
            (Some(max), Ok(peer)) => {
                let ip = peer.ip().to_canonical();
                match AddressSlot::take(&counts, ip, max) {
                    Some(slot) => Some(slot),
                    None => {
                        // Cannot be refused here: shut down, the dispatcher reads
                        // end-of-stream and drops it without reading a byte.
                        tracing::debug!(%ip, max, "connection refused: address at its connection cap");
                        let _ = socket2::SockRef::from(stream).shutdown(Shutdown::Both);
                        return;
                    }
                }
            }
            _ => None,
        };
        let activity = Rc::new(Activity {
            in_flight: Cell::new(0),
            idle_since: Cell::new(Instant::now()),
        });
        let (closed, watched) = tokio::sync::oneshot::channel();
        // A second descriptor of the socket, dropped as soon as the connection
        // ends (the watchdog hears `closed`), so it never holds a socket open.
        if let Ok(socket) = socket2::SockRef::from(stream).try_clone() {
            let idle_max = KEEP_ALIVE + limits.request_header_timeout;
            actix_web::rt::spawn(watch(Rc::clone(&activity), socket, watched, idle_max));
        }
        extensions.insert(Connection {
            activity,
            _slot: slot,
            _closed: closed,
        });
    }
}

fn tcp_stream(io: &dyn Any) -> Option<&TcpStream> {
    io.downcast_ref::<TcpStream>().or_else(|| {
        io.downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<TcpStream>>()
            .map(|tls| tls.get_ref().0)
    })
}

/// One connection's place in its address's count; given back when dropped.
struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl AddressSlot {
    fn take(counts: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, max: usize) -> Option<Self> {
        let mut map = counts.lock().unwrap_or_else(PoisonError::into_inner);
        let open = map.entry(ip).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(Self {
            counts: Arc::clone(counts),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = map.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Whether the connection is serving a request, and since when it is not.
struct Activity {
    in_flight: Cell<usize>,
    idle_since: Cell<Instant>,
}

/// Kept in the connection's data: dropped when the connection ends, which
/// gives back its address slot and stops its watchdog.
struct Connection {
    activity: Rc<Activity>,
    _slot: Option<AddressSlot>,
    _closed: tokio::sync::oneshot::Sender<()>,
}

/// Closes the connection once it has had no request in progress for
/// `idle_max`: by then actix's keep-alive would have closed an idle one, so
/// a next request has been arriving for longer than the header timeout.
async fn watch(
    activity: Rc<Activity>,
    socket: socket2::Socket,
    mut closed: tokio::sync::oneshot::Receiver<()>,
    idle_max: Duration,
) {
    loop {
        let wake = if activity.in_flight.get() > 0 {
            Instant::now() + idle_max
        } else {
            activity.idle_since.get() + idle_max
        };
        tokio::select! {
            _ = &mut closed => return,
            () = tokio::time::sleep_until(wake) => {}
        }
        if activity.in_flight.get() == 0 && activity.idle_since.get() + idle_max <= Instant::now() {
            tracing::debug!("closing a connection whose next request head is late");
            let _ = socket.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// A request in progress on its connection, until its answer has been
/// written (the answer's body is dropped) or abandoned.
struct InFlight(Rc<Activity>);

impl InFlight {
    fn start(activity: &Rc<Activity>) -> Self {
        activity.in_flight.set(activity.in_flight.get() + 1);
        Self(Rc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .set(self.0.in_flight.get().saturating_sub(1));
        self.0.idle_since.set(Instant::now());
    }
}

/// Outermost middleware: gives the request body `server.body_timeout_ms` to
/// arrive (a handler waiting on it longer gets an error; the answer becomes
/// 408 `request_timeout`, with the inner answer's headers, and the connection
/// closes) and marks the connection busy for its watchdog.
///
/// # Errors
/// Only what the inner service returns.
pub async fn limit(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<TrackedBody>, actix_web::Error> {
    let in_flight = req
        .conn_data::<Connection>()
        .map(|connection| InFlight::start(&connection.activity));
    let body_timeout = req
        .app_data::<SlowClientLimits>()
        .map_or(Duration::from_secs(30), |limits| limits.body_timeout);
    let timed_out = Rc::new(Cell::new(false));
    let payload = req.take_payload();
    let timed: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(TimedPayload {
        inner: payload,
        deadline: Instant::now() + body_timeout,
        sleep: None,
        timed_out: Rc::clone(&timed_out),
    });
    req.set_payload(Payload::from(timed));
    let response = next.call(req).await?;
    let response = if timed_out.get() {
        let (request, inner) = response.into_parts();
        let error = AppError::RequestTimeout {
            timeout_ms: body_timeout.as_millis(),
        };
        tracing::info!(timeout_ms = %body_timeout.as_millis(), "request body too slow");
        let mut answer = HttpResponse::RequestTimeout();
        answer.force_close();
        // The 408's own headers; the inner answer's others (request id,
        // security headers, CORS) are kept.
        let own = [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
            header::ETAG,
            header::RETRY_AFTER,
            header::CONNECTION,
        ];
        for (name, value) in inner.headers() {
            if !own.contains(name) {
                answer.append_header((name.clone(), value.clone()));
            }
        }
        let answer = answer.json(ErrorBody::new(error.code(), &error.to_string(), None));
        ServiceResponse::new(request, answer)
    } else {
        response.map_into_boxed_body()
    };
    Ok(response.map_body(|_, body| TrackedBody {
        body,
        _in_flight: in_flight,
    }))
}

/// A request body that fails (`TimedOut`) once it is waited on past its deadline.
struct TimedPayload {
    inner: Payload,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    timed_out: Rc<Cell<bool>>,
}

impl Stream for TimedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.timed_out.get() {
            return Poll::Ready(None);
        }
        // What has arrived is delivered even past the deadline: only waiting
        // on the client counts (a handler may start reading late).
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.set(true);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// An answer's body that keeps its request in flight until it is dropped.
pub struct TrackedBody {
    body: BoxBody,
    _in_flight: Option<InFlight>,
}

impl MessageBody for TrackedBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Self { body, _in_flight } = self;
        body.try_into_bytes()
            .map_err(|body| Self { body, _in_flight })
    }
}
