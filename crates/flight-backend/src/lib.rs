//! A small, real flight-booking backend for the ANIP runtime example: flight search with
//! quotes, bookings at the quoted price with inventory and idempotency keys, booking lookup and
//! cancellation, and lounge passes at a fixed price. State is in memory, seeded at start.
//!
//! HTTP surface (JSON; errors are `{"error": {"code", "message"}}`):
//! `GET /flights?origin&destination&date`, `POST /bookings` (`Idempotency-Key` honoured),
//! `GET /bookings/{id}`, `POST /bookings/{id}/cancel`, `POST /lounge-passes`, `GET /healthz`.
//! When an API key is configured every route but `/healthz` requires it (`X-Api-Key`).

pub mod booking;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use booking::{Refusal, Store};

/// Writes served at once before new ones are turned away with 503 `busy`.
pub const MAX_WRITES_IN_FLIGHT: usize = 64;

/// Shared state of one backend.
#[derive(Clone)]
pub struct Backend {
    store: Arc<Mutex<Store>>,
    api_key: Option<Arc<signing::Secret>>,
    writes_in_flight: Arc<AtomicUsize>,
}

impl Backend {
    /// A seeded backend; `api_key` protects every route but `/healthz`.
    pub fn new(api_key: Option<signing::Secret>) -> Backend {
        Backend {
            store: Arc::new(Mutex::new(Store::seeded())),
            api_key: api_key.filter(|k| !k.is_blank()).map(Arc::new),
            writes_in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn authorized(&self, req: &HttpRequest) -> bool {
        let Some(key) = &self.api_key else {
            return true;
        };
        let presented = req
            .headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        signing::constant_time_eq(presented.as_bytes(), key.expose().as_bytes())
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut guard = match self.store.lock() {
            Ok(guard) => guard,
            // A panic while holding the lock leaves the maps consistent (every write is a single
            // insert or update), so keep serving.
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }
}

/// Mounts the routes with `backend` as shared state.
pub fn configure(backend: Backend) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(backend))
            .app_data(web::JsonConfig::default().error_handler(|err, _| {
                let response = refusal(&Refusal {
                    status: 422,
                    code: "invalid_request",
                    message: err.to_string(),
                });
                actix_web::error::InternalError::from_response(err, response).into()
            }))
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().json(json!({"status": "ok"})) }),
            )
            .route("/flights", web::get().to(search))
            .route("/bookings", web::post().to(book))
            .route("/bookings/{id}", web::get().to(get_booking))
            .route("/bookings/{id}/cancel", web::post().to(cancel))
            .route("/lounge-passes", web::post().to(lounge_pass));
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn refusal(refusal: &Refusal) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(refusal.status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status)
        .json(json!({"error": {"code": refusal.code, "message": refusal.message}}))
}

fn unauthorized() -> HttpResponse {
    refusal(&Refusal {
        status: 401,
        code: "unauthorized",
        message: "a valid X-Api-Key is required".into(),
    })
}

fn busy() -> HttpResponse {
    refusal(&Refusal {
        status: 503,
        code: "busy",
        message: "too many bookings in progress; retry".into(),
    })
}

fn idempotency_key(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

fn answer(outcome: Result<(Value, bool), Refusal>, created: bool) -> HttpResponse {
    match outcome {
        Ok((body, replayed)) => {
            let mut response = if created && !replayed {
                HttpResponse::Created()
            } else {
                HttpResponse::Ok()
            };
            if replayed {
                response.insert_header(("idempotent-replayed", "true"));
            }
            response.json(body)
        }
        Err(r) => refusal(&r),
    }
}

/// Counts a write in flight; refuses it with 503 `busy` beyond the limit.
struct WriteSlot(Arc<AtomicUsize>);

impl WriteSlot {
    /// A slot, or `None` when too many writes are in flight.
    fn take(backend: &Backend) -> Option<WriteSlot> {
        let before = backend.writes_in_flight.fetch_add(1, Ordering::SeqCst);
        let slot = WriteSlot(backend.writes_in_flight.clone());
        (before < MAX_WRITES_IN_FLIGHT).then_some(slot)
    }
}

impl Drop for WriteSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    origin: Option<String>,
    destination: Option<String>,
    date: Option<String>,
}

async fn search(
    backend: web::Data<Backend>,
    req: HttpRequest,
    query: web::Query<SearchQuery>,
) -> HttpResponse {
    if !backend.authorized(&req) {
        return unauthorized();
    }
    let (Some(origin), Some(destination), Some(date)) =
        (&query.origin, &query.destination, &query.date)
    else {
        return refusal(&Refusal {
            status: 422,
            code: "invalid_request",
            message: "origin, destination and date are required".into(),
        });
    };
    match backend.with_store(|s| s.search(origin, destination, date, now())) {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(r) => refusal(&r),
    }
}

async fn book(
    backend: web::Data<Backend>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> HttpResponse {
    if !backend.authorized(&req) {
        return unauthorized();
    }
    let Some(_slot) = WriteSlot::take(&backend) else {
        return busy();
    };
    let key = idempotency_key(&req);
    answer(
        backend.with_store(|s| s.book(&body, key.as_deref(), now())),
        true,
    )
}

async fn get_booking(
    backend: web::Data<Backend>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    if !backend.authorized(&req) {
        return unauthorized();
    }
    match backend.with_store(|s| s.booking(&id)) {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(r) => refusal(&r),
    }
}

async fn cancel(
    backend: web::Data<Backend>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    if !backend.authorized(&req) {
        return unauthorized();
    }
    match backend.with_store(|s| s.cancel(&id)) {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(r) => refusal(&r),
    }
}

async fn lounge_pass(
    backend: web::Data<Backend>,
    req: HttpRequest,
    body: Option<web::Json<Value>>,
) -> HttpResponse {
    if !backend.authorized(&req) {
        return unauthorized();
    }
    let Some(_slot) = WriteSlot::take(&backend) else {
        return busy();
    };
    let body = body.map(web::Json::into_inner).unwrap_or_else(|| json!({}));
    let key = idempotency_key(&req);
    answer(
        backend.with_store(|s| s.lounge_pass(&body, key.as_deref(), now())),
        true,
    )
}

#[cfg(test)]
mod tests {
    use actix_web::test::{call_service, init_service, read_body_json, TestRequest};
    use actix_web::App;

    use super::*;

    #[actix_web::test]
    async fn the_api_key_guards_every_route_but_health() {
        let app = init_service(
            App::new().configure(configure(Backend::new(Some(signing::Secret::new("k"))))),
        )
        .await;
        let health = call_service(&app, TestRequest::get().uri("/healthz").to_request()).await;
        assert_eq!(health.status(), 200);
        let search = "/flights?origin=SEA&destination=SFO&date=2026-03-10";
        let refused = call_service(&app, TestRequest::get().uri(search).to_request()).await;
        assert_eq!(refused.status(), 401);
        let body: Value = read_body_json(refused).await;
        assert_eq!(body["error"]["code"], "unauthorized");
        let wrong = call_service(
            &app,
            TestRequest::get()
                .uri(search)
                .insert_header(("x-api-key", "kk"))
                .to_request(),
        )
        .await;
        assert_eq!(wrong.status(), 401);
        let ok = call_service(
            &app,
            TestRequest::get()
                .uri(search)
                .insert_header(("x-api-key", "k"))
                .to_request(),
        )
        .await;
        assert_eq!(ok.status(), 200);
    }

    #[actix_web::test]
    async fn bookings_are_idempotent_over_http() {
        let app = init_service(App::new().configure(configure(Backend::new(None)))).await;
        let found: Value = read_body_json(
            call_service(
                &app,
                TestRequest::get()
                    .uri("/flights?origin=SEA&destination=SFO&date=2026-03-10")
                    .to_request(),
            )
            .await,
        )
        .await;
        let request = json!({"flight_number": "AA100", "date": "2026-03-10", "quote_id": found["flights"][0]["quote"]});
        let book = || {
            TestRequest::post()
                .uri("/bookings")
                .insert_header(("idempotency-key", "once"))
                .set_json(&request)
                .to_request()
        };
        let first = call_service(&app, book()).await;
        assert_eq!(first.status(), 201);
        let first: Value = read_body_json(first).await;
        let second = call_service(&app, book()).await;
        assert_eq!(second.status(), 200);
        assert_eq!(second.headers().get("idempotent-replayed").unwrap(), "true");
        let second: Value = read_body_json(second).await;
        assert_eq!(first, second);
        let malformed = call_service(
            &app,
            TestRequest::post()
                .uri("/bookings")
                .insert_header(("content-type", "application/json"))
                .set_payload("{")
                .to_request(),
        )
        .await;
        assert_eq!(malformed.status(), 422);
    }
}
