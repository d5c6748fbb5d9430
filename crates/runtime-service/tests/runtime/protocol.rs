//! The protocol surface against the example package: discovery, the signed manifest, tokens
//! and delegation, permissions, and every invoke check in its documented order.

use serde_json::{json, Value};
use signing::es256::Es256PublicKey;
use signing::{jws, jwt, Jwks};

use crate::support::{failure_type, Flight, ANA, ANA_KEY, BOB_KEY};

const ALL: [&str; 4] = [
    "travel.search",
    "travel.book",
    "travel.extras",
    "travel.manage",
];

async fn jwks(flight: &Flight) -> Jwks {
    let (status, body) = flight.get("/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    serde_json::from_value(body).unwrap()
}

#[actix_web::test]
async fn discovery_and_a_manifest_signed_over_its_exact_bytes() {
    let flight = Flight::start().await;
    let (status, discovery) = flight.get("/.well-known/anip").await;
    assert_eq!(status, 200);
    let doc = &discovery["anip_discovery"];
    assert_eq!(doc["protocol"], "anip/0.24");
    assert_eq!(doc["trust_level"], "anchored");
    assert_eq!(doc["base_url"], flight.served.url);
    assert_eq!(doc["capabilities"]["book_flight"]["financial"], true);
    assert_eq!(doc["capabilities"]["search_flights"]["financial"], false);

    let response = flight
        .http
        .get(flight.url("/anip/manifest"))
        .send()
        .await
        .unwrap();
    let signature = response.headers()["x-anip-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.bytes().await.unwrap();
    let keys = jwks(&flight).await;
    let header = jws::decode_header(&signature).unwrap();
    let sig_key = keys.find(header.kid.as_deref().unwrap()).unwrap();
    assert_eq!(sig_key.key_use.as_deref(), Some("sig"));
    jws::verify_detached(
        &Es256PublicKey::from_jwk(sig_key).unwrap(),
        &body,
        &signature,
    )
    .unwrap();
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(jws::verify_detached(
        &Es256PublicKey::from_jwk(sig_key).unwrap(),
        &tampered,
        &signature
    )
    .is_err());

    let manifest: Value = serde_json::from_slice(&body).unwrap();
    let book = &manifest["capabilities"]["book_flight"];
    for key in [
        "requires_binding",
        "control_requirements",
        "cross_service",
        "cross_service_contract",
        "composition",
        "grant_policy",
        "cost",
        "refresh_via",
        "verify_via",
    ] {
        assert!(book.get(key).is_some(), "book_flight lacks {key}");
    }
    assert_eq!(
        manifest["capabilities"]["rebooking_options"]["kind"],
        "composed"
    );
    assert_eq!(manifest["service_identity"]["id"], "flight-service");
    let (status, graph) = flight.get("/anip/graph/book_flight").await;
    assert_eq!(
        (status, graph["requires"][0]["capability"].as_str()),
        (200, Some("search_flights"))
    );
    let (status, missing) = flight.get("/anip/graph/nope").await;
    assert_eq!(
        (status, failure_type(&missing).as_str()),
        (404, "not_found")
    );
}

#[actix_web::test]
async fn tokens_verify_against_jwks_and_delegation_only_narrows() {
    let flight = Flight::start().await;
    let (status, body) = flight
        .token_request("wrong-key", json!({"scope": ["travel.search"]}))
        .await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (401, "authentication_required")
    );

    let (status, root) = flight
        .token_request(ANA_KEY, json!({"scope": ["travel"], "capability": "book_flight", "budget": {"currency": "USD", "max_amount": 500}}))
        .await;
    assert_eq!(status, 200, "{root}");
    assert!(root["token_id"].as_str().unwrap().starts_with("anip-"));
    assert_eq!(
        root["task_id"],
        format!("task-{}", root["token_id"].as_str().unwrap())
    );
    let claims = jwt::verify_with_jwks(
        &jwks(&flight).await,
        root["token"].as_str().unwrap(),
        &jwt::Validation::new().with_audience("flight-service"),
    )
    .unwrap();
    assert_eq!(
        (claims["sub"].as_str(), claims["root_principal"].as_str()),
        (Some(ANA), Some(ANA))
    );
    assert_eq!(claims["constraints"]["max_delegation_depth"], 3);
    let parent = root["token_id"].as_str().unwrap();

    // A child narrows the scope, inherits the budget, and the caller must be the parent's subject.
    let child = |body: Value| {
        let mut body = body;
        body["parent_token"] = json!(parent);
        body
    };
    let (status, issued) = flight.token_request(ANA_KEY, child(json!({"scope": ["travel.book"], "subject": "agent:booker", "capability": "book_flight"}))).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(
        issued["budget"],
        json!({"currency": "USD", "max_amount": 500.0})
    );
    let (status, escalated) = flight
        .token_request(ANA_KEY, child(json!({"scope": ["hotel.book"]})))
        .await;
    assert_eq!(
        (status, failure_type(&escalated).as_str()),
        (400, "scope_escalation")
    );
    let (_, wider) = flight
        .token_request(
            ANA_KEY,
            child(
                json!({"scope": ["travel.book"], "budget": {"currency": "USD", "max_amount": 600}}),
            ),
        )
        .await;
    assert_eq!(failure_type(&wider), "budget_exceeded");
    let (_, euros) = flight
        .token_request(
            ANA_KEY,
            child(
                json!({"scope": ["travel.book"], "budget": {"currency": "EUR", "max_amount": 10}}),
            ),
        )
        .await;
    assert_eq!(failure_type(&euros), "budget_currency_mismatch");
    let (status, stranger) = flight
        .token_request(BOB_KEY, child(json!({"scope": ["travel.book"]})))
        .await;
    assert_eq!(
        (status, failure_type(&stranger).as_str()),
        (403, "insufficient_authority")
    );

    // The delegate authenticates with its own JWT to delegate further.
    let delegate_jwt = issued["token"].as_str().unwrap();
    let (status, grandchild) = flight
        .token_request(delegate_jwt, json!({"scope": ["travel.book"], "parent_token": issued["token_id"], "capability": "book_flight"}))
        .await;
    assert_eq!(status, 200, "{grandchild}");

    // A delegate cannot mint itself a root token.
    let (status, minted) = flight
        .token_request(delegate_jwt, json!({"scope": ["travel"]}))
        .await;
    assert_eq!(
        (status, failure_type(&minted).as_str()),
        (403, "insufficient_authority")
    );

    // A JWT whose stored record differs is refused.
    let client = flight.db.pool().get().await.unwrap();
    client
        .execute(
            "UPDATE runtime_tokens SET scope = '[\"travel\", \"admin\"]' WHERE token_id = $1",
            &[&parent],
        )
        .await
        .unwrap();
    let (status, refused) = flight
        .post(root["token"].as_str().unwrap(), "/anip/permissions")
        .await;
    assert_eq!(
        (status, failure_type(&refused).as_str()),
        (401, "invalid_token")
    );
}

#[actix_web::test]
async fn permissions_sort_capabilities_by_what_the_token_lacks() {
    let flight = Flight::start().await;
    let (_, narrow) = flight
        .token(json!({"scope": ["travel.search"], "capability": "search_flights"}))
        .await;
    let (status, permissions) = flight.post(&narrow, "/anip/permissions").await;
    assert_eq!(status, 200);
    let names = |bucket: &str| -> Vec<String> {
        permissions[bucket]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["capability"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names("available"),
        ["search_flights", "get_booking", "rebooking_options"]
    );
    assert_eq!(names("restricted"), ["book_flight", "purchase_lounge_pass"]);
    assert_eq!(names("denied"), ["cancel_booking"]);
    assert_eq!(permissions["denied"][0]["reason_type"], "non_delegable");
    assert_eq!(
        permissions["restricted"][0]["resolution_hint"],
        "request_broader_scope"
    );

    let (_, full) = flight
        .token(json!({"scope": ALL, "capability": "purchase_lounge_pass"}))
        .await;
    let (_, permissions) = flight.post(&full, "/anip/permissions").await;
    let lounge = permissions["restricted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["capability"] == "purchase_lounge_pass")
        .unwrap()
        .clone();
    assert_eq!(lounge["unmet_token_requirements"], json!(["cost_ceiling"]));
    assert_eq!(lounge["resolution_hint"], "request_budget_bound_delegation");
}

#[actix_web::test]
async fn invoke_checks_run_in_the_documented_order() {
    let flight = Flight::start().await;
    let (_, bound) = flight.token(json!({"scope": ["travel.search"], "capability": "search_flights", "purpose_parameters": {"task_id": "trip-1"}})).await;

    // A task mismatch is reported before the capability is even looked up.
    let (status, body) = flight
        .invoke(
            &bound,
            "no_such_capability",
            json!({"parameters": {}, "task_id": "other"}),
        )
        .await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (403, "purpose_mismatch")
    );
    assert!(body["invocation_id"].as_str().unwrap().starts_with("inv-"));
    let (status, body) = flight
        .invoke(&bound, "no_such_capability", json!({"parameters": {}}))
        .await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (404, "unknown_capability")
    );
    // Streaming is checked before scope: book_flight is unary.
    let (_, body) = flight
        .invoke(
            &bound,
            "book_flight",
            json!({"parameters": {}, "stream": true}),
        )
        .await;
    assert_eq!(failure_type(&body), "streaming_not_supported");
    let (status, body) = flight
        .invoke(&bound, "book_flight", json!({"parameters": {}}))
        .await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (403, "scope_insufficient")
    );
    assert_eq!(
        body["failure"]["resolution"]["action"],
        "request_broader_scope"
    );
    assert_eq!(body["failure"]["resolution"]["grantable_by"], ANA);
    let (status, body) = flight
        .invoke(
            &bound,
            "get_booking",
            json!({"parameters": {"booking_id": "BK-0001"}}),
        )
        .await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (403, "purpose_mismatch")
    );
    assert_eq!(body["task_id"], "trip-1");

    // Budget, then binding, then control requirements.
    let (_, poor) = flight.token(json!({"scope": ALL, "capability": "purchase_lounge_pass", "budget": {"currency": "USD", "max_amount": 20}})).await;
    let (_, body) = flight
        .invoke(&poor, "purchase_lounge_pass", json!({"parameters": {}}))
        .await;
    assert_eq!(failure_type(&body), "budget_exceeded");
    assert_eq!(body["budget_context"]["cost_check_amount"], 45.0);
    let (_, no_budget) = flight
        .token(json!({"scope": ALL, "capability": "purchase_lounge_pass"}))
        .await;
    let (_, body) = flight
        .invoke(
            &no_budget,
            "purchase_lounge_pass",
            json!({"parameters": {}}),
        )
        .await;
    assert_eq!(failure_type(&body), "control_requirement_unsatisfied");
    assert!(body["failure"]["detail"]
        .as_str()
        .unwrap()
        .contains("cost_ceiling"));
    let (_, rich) = flight.token(json!({"scope": ALL, "capability": "purchase_lounge_pass", "budget": {"currency": "USD", "max_amount": 100}})).await;
    let (status, body) = flight
        .invoke(
            &rich,
            "purchase_lounge_pass",
            json!({"parameters": {}, "client_reference_id": "lp-1"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["cost_actual"],
        json!({"financial": {"amount": 45.0, "currency": "USD"}})
    );
    assert_eq!(body["budget_context"]["within_budget"], true);
    assert_eq!(body["client_reference_id"], "lp-1");
    // An invocation budget can only narrow the token's.
    let (_, body) = flight
        .invoke(
            &rich,
            "purchase_lounge_pass",
            json!({"parameters": {}, "budget": {"currency": "USD", "max_amount": 10}}),
        )
        .await;
    assert_eq!(failure_type(&body), "budget_exceeded");

    let (_, booker) = flight.token(json!({"scope": ALL, "capability": "book_flight", "budget": {"currency": "USD", "max_amount": 400}})).await;
    let (_, body) = flight
        .invoke(
            &booker,
            "book_flight",
            json!({"parameters": {"flight_number": "AA100", "date": "2026-03-10"}}),
        )
        .await;
    assert_eq!(failure_type(&body), "binding_missing");
    assert_eq!(
        body["failure"]["resolution"]["recovery_target"]["target"]["capability"],
        "search_flights"
    );
    let mut stale = flight.quote().await;
    stale["issued_at"] = json!(stale["issued_at"].as_i64().unwrap() - 3600);
    let (_, body) = flight.invoke(&booker, "book_flight", json!({"parameters": {"flight_number": "AA100", "date": "2026-03-10", "quote_id": stale}})).await;
    // The bound price (420) exceeds the budget (400) before the binding's age is looked at.
    assert_eq!(failure_type(&body), "budget_exceeded");
    assert_eq!(body["budget_context"]["cost_certainty"], "estimated");
    let (_, booker) = flight.token(json!({"scope": ALL, "capability": "book_flight", "budget": {"currency": "USD", "max_amount": 1000}})).await;
    let (_, body) = flight.invoke(&booker, "book_flight", json!({"parameters": {"flight_number": "AA100", "date": "2026-03-10", "quote_id": stale}})).await;
    assert_eq!(failure_type(&body), "binding_stale");
    let quote = flight.quote().await;
    let (status, body) = flight.invoke(&booker, "book_flight", json!({"parameters": {"flight_number": "AA100", "date": "2026-03-10", "quote_id": quote}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["status"], "confirmed");
    assert_eq!(body["cost_actual"]["financial"]["amount"], 420.0);
    let booking_id = body["result"]["booking_id"].as_str().unwrap().to_owned();

    // Non-delegable: a delegated token is refused even with the scope; the root token bound to
    // the capability succeeds.
    let (parent_id, _) = flight
        .token(json!({"scope": ALL, "capability": "cancel_booking"}))
        .await;
    let (_, child) = flight.token(json!({"scope": ["travel.manage"], "capability": "cancel_booking", "parent_token": parent_id})).await;
    let (status, body) = flight
        .invoke(
            &child,
            "cancel_booking",
            json!({"parameters": {"booking_id": booking_id}}),
        )
        .await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (403, "non_delegable_action")
    );
    assert_eq!(body["failure"]["resolution"]["recovery_class"], "terminal");
    let (_, owner) = flight
        .token(json!({"scope": ALL, "capability": "cancel_booking"}))
        .await;
    let (status, body) = flight
        .invoke(
            &owner,
            "cancel_booking",
            json!({"parameters": {"booking_id": booking_id}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A backend refusal keeps its meaning: cancelling twice is terminal.
    let (_, body) = flight
        .invoke(
            &owner,
            "cancel_booking",
            json!({"parameters": {"booking_id": booking_id}}),
        )
        .await;
    assert_eq!(failure_type(&body), "booking_already_cancelled");

    // Every invocation above was audited for Ana, newest first.
    let (status, audit) = flight.post(&owner, "/anip/audit?limit=1000").await;
    assert_eq!(status, 200);
    assert_eq!(audit["root_principal"], ANA);
    let types: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["failure_type"].as_str())
        .collect();
    for expected in [
        "purpose_mismatch",
        "unknown_capability",
        "scope_insufficient",
        "budget_exceeded",
        "binding_missing",
        "binding_stale",
        "non_delegable_action",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} not audited: {types:?}"
        );
    }
    let (_, filtered) = flight
        .post(
            &owner,
            "/anip/audit?capability=purchase_lounge_pass&client_reference_id=lp-1",
        )
        .await;
    assert_eq!(filtered["count"], 1);
    assert_eq!(filtered["entries"][0]["event_class"], "high_risk_success");
    assert_eq!(
        filtered["entries"][0]["cost_actual"]["financial"]["amount"],
        45
    );
}

#[actix_web::test]
async fn a_composition_runs_its_steps_and_records_them() {
    let flight = Flight::start().await;
    let (_, booker) = flight
        .token(json!({"scope": ALL, "capability": "book_flight"}))
        .await;
    let quote = flight.quote().await;
    let (_, booked) = flight.invoke(&booker, "book_flight", json!({"parameters": {"flight_number": "AA100", "date": "2026-03-10", "quote_id": quote}})).await;
    let booking_id = booked["result"]["booking_id"].clone();
    let (_, reader) = flight
        .token(json!({"scope": ["travel.search"], "capability": "rebooking_options"}))
        .await;
    let (status, body) = flight
        .invoke(
            &reader,
            "rebooking_options",
            json!({"parameters": {"booking_id": booking_id}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["booking"]["booking_id"], booking_id);
    assert_eq!(body["result"]["alternatives"].as_array().unwrap().len(), 3);
    let parent = body["invocation_id"].as_str().unwrap();
    let (_, children) = flight
        .post(
            &reader,
            &format!("/anip/audit?parent_invocation_id={parent}"),
        )
        .await;
    let steps: Vec<&str> = children["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["capability"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["search_flights", "get_booking"]);
    // Child failures propagate with their own type.
    let (_, body) = flight
        .invoke(
            &reader,
            "rebooking_options",
            json!({"parameters": {"booking_id": "BK-9999"}}),
        )
        .await;
    assert_eq!(failure_type(&body), "not_found");
}

#[actix_web::test]
async fn streaming_invocations_send_progress_then_one_terminal_event() {
    let flight = Flight::start().await;
    let (_, jwt) = flight
        .token(json!({"scope": ["travel.search"], "capability": "search_flights"}))
        .await;
    let response = flight
        .http
        .post(flight.url("/anip/invoke/search_flights"))
        .bearer_auth(&jwt)
        .json(&json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}, "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events, ["progress", "progress", "completed"], "{text}");
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap();
    let completed: Value = serde_json::from_str(last).unwrap();
    assert_eq!(completed["stream_summary"]["events_delivered"], 2);
    assert_eq!(completed["result"]["count"], 3);
}

#[actix_web::test]
async fn delegation_never_widens_a_qualified_scope() {
    let flight = Flight::start().await;
    let (root_id, root_jwt) = flight
        .token(json!({"scope": ["approver:get_booking"]}))
        .await;
    for widened in ["approver:*", "approver:book_flight", "approver"] {
        let (status, body) = flight
            .token_request(
                &root_jwt,
                json!({"scope": [widened], "parent_token": root_id, "subject": "agent:helper"}),
            )
            .await;
        assert_eq!(
            (status, failure_type(&body).as_str()),
            (400, "scope_escalation"),
            "{widened}: {body}"
        );
    }
    let (status, body) = flight
        .token_request(
            &root_jwt,
            json!({"scope": ["approver:get_booking"], "parent_token": root_id, "subject": "agent:helper"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A body with `value` at `pointer` in `body`.
fn with_nul(mut body: Value, pointer: &str, value: Value) -> Value {
    *body.pointer_mut(pointer).unwrap() = value;
    body
}

#[actix_web::test]
async fn nul_characters_are_refused_before_anything_runs() {
    let flight = Flight::start().await;
    let token_body = json!({"scope": ["travel.search"], "capability": "search_flights", "subject": "agent:a",
                            "session_id": "s", "caller_class": "c", "purpose_parameters": {"task_id": "t"}});
    for pointer in [
        "/purpose_parameters/task_id",
        "/subject",
        "/session_id",
        "/caller_class",
        "/scope/0",
    ] {
        let (status, body) = flight
            .token_request(
                ANA_KEY,
                with_nul(token_body.clone(), pointer, json!("x\u{0}")),
            )
            .await;
        assert_eq!(
            (status, failure_type(&body).as_str()),
            (400, "invalid_parameters"),
            "{pointer}: {body}"
        );
        assert!(
            body["failure"]["detail"].as_str().unwrap().contains("NUL"),
            "{body}"
        );
    }
    let (_, searcher) = flight
        .token(json!({"scope": ALL, "capability": "search_flights"}))
        .await;
    let (_, booker) = flight
        .token(json!({"scope": ALL, "capability": "book_flight", "budget": {"currency": "USD", "max_amount": 1000}}))
        .await;
    for path in [
        "/anip/audit?capability=%00",
        "/anip/invoke/%00",
        "/anip/invoke/search%00flights",
    ] {
        let (status, body) = flight.post(&searcher, path).await;
        assert_eq!(
            (status, failure_type(&body).as_str()),
            (400, "invalid_parameters"),
            "{path}: {body}"
        );
    }
    for path in [
        "/anip/checkpoints/%00",
        "/anip/checkpoints/ckpt-5?consistency_from=%00",
    ] {
        let (status, body) = flight.get(path).await;
        assert_eq!(
            (status, failure_type(&body).as_str()),
            (400, "invalid_parameters"),
            "{path}: {body}"
        );
    }
    let response = flight
        .http
        .post(flight.url("/anip/approval_grants"))
        .bearer_auth(&searcher)
        .json(&json!({"approval_request_id": "a\u{0}", "grant_type": "one_time"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(failure_type(&body), "invalid_parameters");
    let search = json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}, "client_reference_id": "evade\u{0}"});
    let (status, body) = flight.invoke(&searcher, "search_flights", search).await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (400, "invalid_parameters"),
        "{body}"
    );
    let quote = flight.quote().await;
    let book = json!({"parameters": {"flight_number": "AA100", "date": "2026-03-10", "quote_id": quote}, "client_reference_id": "evade\u{0}"});
    let (status, body) = flight.invoke(&booker, "book_flight", book).await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (400, "invalid_parameters"),
        "{body}"
    );
    // Nothing refused was recorded, and the audit log still takes entries: the quote's search
    // is the only entry so far, and the next invocation is the second.
    let (status, audit) = flight.post(&searcher, "/anip/audit").await;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["count"], 1, "{audit}");
    let search = json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}, "client_reference_id": "clean"});
    let (status, body) = flight.invoke(&searcher, "search_flights", search).await;
    assert_eq!(status, 200, "{body}");
    let (_, audit) = flight.post(&searcher, "/anip/audit").await;
    assert_eq!(audit["count"], 2, "{audit}");
}

/// `POST` `body` as raw bytes with a bearer; returns status, content type and JSON body.
async fn post_raw(
    flight: &Flight,
    bearer: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, String, Value) {
    let response = flight
        .http
        .post(flight.url(path))
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.json().await.unwrap())
}

#[actix_web::test]
async fn malformed_requests_get_precise_json_failures() {
    let flight = Flight::start().await;
    let (root_id, searcher) = flight
        .token(json!({"scope": ALL, "capability": "search_flights"}))
        .await;

    // A method a path lacks: 405 naming the methods it has (RFC 9110).
    for (method, path, allow) in [
        (reqwest::Method::GET, "/anip/invoke/search_flights", "POST"),
        (reqwest::Method::PUT, "/anip/tokens", "POST"),
        (
            reqwest::Method::DELETE,
            "/anip/checkpoints/ckpt-1",
            "GET, HEAD",
        ),
    ] {
        let response = flight
            .http
            .request(method, flight.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], allow, "{path}");
    }
    // Oversized bodies: 413 with an ANIP failure, on every endpoint that reads a body.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(300 * 1024)).into_bytes();
    for (bearer, path) in [
        (ANA_KEY, "/anip/tokens"),
        (searcher.as_str(), "/anip/invoke/search_flights"),
        (searcher.as_str(), "/anip/approval_grants"),
    ] {
        let (status, content_type, body) = post_raw(&flight, bearer, path, big.clone()).await;
        assert_eq!(status, 413, "{path}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        assert_eq!(failure_type(&body), "payload_too_large", "{body}");
    }
    // Query strings that do not parse, and limits below one.
    for path in [
        "/anip/checkpoints?limit=x",
        "/anip/checkpoints?limit=0",
        "/anip/checkpoints/ckpt-1?include_proof=true",
    ] {
        let (status, body) = flight.get(path).await;
        assert_eq!(
            (status, failure_type(&body).as_str()),
            (400, "invalid_parameters"),
            "{path}: {body}"
        );
    }
    let (_, body) = flight
        .get("/anip/checkpoints/ckpt-1?include_proof=true")
        .await;
    assert!(body["failure"]["detail"]
        .as_str()
        .unwrap()
        .contains("leaf_index"));
    for limit in ["0", "-1"] {
        let (status, body) = flight
            .post(&searcher, &format!("/anip/audit?limit={limit}"))
            .await;
        assert_eq!(
            (status, failure_type(&body).as_str()),
            (400, "invalid_parameters"),
            "{limit}: {body}"
        );
    }
    // A credential sent where a token id belongs is never echoed.
    let (status, body) = flight
        .token_request(
            ANA_KEY,
            json!({"scope": ["travel.search"], "parent_token": searcher}),
        )
        .await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (401, "invalid_token")
    );
    assert!(!body.to_string().contains(&searcher), "{body}");
    assert!(!body.to_string().contains("eyJ"), "{body}");
    let _ = root_id;
    // stream must be a boolean.
    for stream in [json!("yes"), json!(1)] {
        let search = json!({"parameters": {"origin": "SEA", "destination": "SFO", "date": "2026-03-10"}, "stream": stream});
        let (status, body) = flight.invoke(&searcher, "search_flights", search).await;
        assert_eq!(
            (status, failure_type(&body).as_str()),
            (400, "invalid_parameters"),
            "{body}"
        );
        assert!(body["failure"]["detail"]
            .as_str()
            .unwrap()
            .contains("stream"));
    }
    // An input too long for the backend request is refused, not reported as an outage.
    for size in [60_000, 100_000] {
        let search = json!({"parameters": {"origin": "S".repeat(size), "destination": "SFO", "date": "2026-03-10"}});
        let (status, body) = flight.invoke(&searcher, "search_flights", search).await;
        assert_eq!(
            (status, failure_type(&body).as_str()),
            (400, "invalid_parameters"),
            "{size}: {body}"
        );
    }
    // A quote whose issue time proves nothing does not pass max_age.
    let (_, booker) = flight
        .token(json!({"scope": ALL, "capability": "book_flight", "budget": {"currency": "USD", "max_amount": 1000}}))
        .await;
    for issued_at in [json!("x"), json!(9_999_999_999_i64)] {
        let mut quote = flight.quote().await;
        quote["issued_at"] = issued_at.clone();
        let (status, body) = flight.invoke(&booker, "book_flight", json!({"parameters": {"flight_number": "AA100", "date": "2026-03-10", "quote_id": quote}})).await;
        assert_eq!(
            (status, failure_type(&body).as_str()),
            (400, "binding_stale"),
            "{issued_at}: {body}"
        );
    }
}

#[test]
fn the_request_deadline_outlasts_the_longest_invocation_a_package_allows() {
    use runtime_service::app::request_deadline;
    use std::time::Duration;

    let floor = Duration::from_secs(30);
    let definition = crate::support::with_credential_file(
        crate::support::flight_definition(),
        &crate::support::secret_file("unused"),
    );
    // The example's longest invocation, rebooking_options, calls get_booking then
    // search_flights (3 s + 3 s): the server default stands.
    let package = crate::support::load(&definition, "http://127.0.0.1:9");
    assert_eq!(request_deadline(&package, floor), floor);
    // Slow bindings: the composition's two calls in sequence, plus the database margin.
    let mut slow = definition;
    for mapping in slow["integration_fronting"]["capability_mappings"]
        .as_array_mut()
        .unwrap()
    {
        let timeout = match mapping["capability_id"].as_str().unwrap() {
            "get_booking" => 25_000,
            "search_flights" => 20_000,
            _ => continue,
        };
        mapping["backend_bindings"][0]["timeout_ms"] = json!(timeout);
    }
    let package = crate::support::load(&slow, "http://127.0.0.1:9");
    assert_eq!(request_deadline(&package, floor), Duration::from_secs(55));
}
