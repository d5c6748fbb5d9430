//! Approval requests and grants (§4.7–§4.9) end to end: a gated capability asks for approval,
//! an approver with the right scope grants it once, the continuation runs exactly once.

use serde_json::json;

use crate::support::{
    failure_type, flight_definition, load, secret_file, serve, spawn_flight_backend,
    with_credential_file, Flight, ANA, BOB_KEY,
};

#[actix_web::test]
async fn approval_required_then_granted_then_consumed() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let key = runtime_service::ids::random_hex(16);
    let backend_url = spawn_flight_backend(&key);
    let mut definition = with_credential_file(flight_definition(), &secret_file(&key));
    // Gate the lounge pass behind approval (and drop its budget requirement for brevity).
    for declaration in definition["capability_declarations"]
        .as_array_mut()
        .unwrap()
    {
        if declaration["name"] == "purchase_lounge_pass" {
            declaration["control_requirements"] = json!([]);
            declaration["grant_policy"] = json!({"allowed_grant_types": ["one_time"], "default_grant_type": "one_time", "expires_in_seconds": 900, "max_uses": 1});
        }
    }
    let served = serve(db.pool(), load(&definition, &backend_url)).await;
    let flight = Flight {
        db,
        served,
        http: reqwest::Client::new(),
    };

    let (_, requester) = flight
        .token(json!({"scope": ["travel.extras"], "capability": "purchase_lounge_pass"}))
        .await;
    let params = json!({"airport": "SFO"});
    let (status, body) = flight
        .invoke(
            &requester,
            "purchase_lounge_pass",
            json!({"parameters": params}),
        )
        .await;
    assert_eq!(
        (status, failure_type(&body).as_str()),
        (400, "approval_required")
    );
    assert_eq!(
        body["failure"]["resolution"]["recovery_class"],
        "wait_then_retry"
    );
    let request_id = body["failure"]["approval_required"]["approval_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(request_id.starts_with("apr_"));

    let grant_body = json!({"approval_request_id": request_id, "grant_type": "one_time"});
    let (_, unauthorized) = flight
        .token_request(BOB_KEY, json!({"scope": ["approver:other"]}))
        .await;
    let response = flight
        .http
        .post(flight.url("/anip/approval_grants"))
        .bearer_auth(unauthorized["token"].as_str().unwrap())
        .json(&grant_body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let (_, approver) = flight
        .token_request(BOB_KEY, json!({"scope": ["approver:purchase_lounge_pass"]}))
        .await;
    let approver = approver["token"].as_str().unwrap().to_owned();
    let grant: serde_json::Value = flight
        .http
        .post(flight.url("/anip/approval_grants"))
        .bearer_auth(&approver)
        .json(&grant_body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(grant["capability"], "purchase_lounge_pass");
    assert_eq!(grant["max_uses"], 1);
    let grant_id = grant["grant_id"].as_str().unwrap().to_owned();
    let again = flight
        .http
        .post(flight.url("/anip/approval_grants"))
        .bearer_auth(&approver)
        .json(&grant_body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409, "a request is decided once");

    let (_, drift) = flight
        .invoke(
            &requester,
            "purchase_lounge_pass",
            json!({"parameters": {"airport": "LAX"}, "approval_grant": grant_id}),
        )
        .await;
    assert_eq!(failure_type(&drift), "grant_param_drift");
    let (status, done) = flight
        .invoke(
            &requester,
            "purchase_lounge_pass",
            json!({"parameters": params, "approval_grant": grant_id}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["result"]["airport"], "SFO");
    let (_, reused) = flight
        .invoke(
            &requester,
            "purchase_lounge_pass",
            json!({"parameters": params, "approval_grant": grant_id}),
        )
        .await;
    assert_eq!(failure_type(&reused), "grant_consumed");

    let (_, audit) = flight.post(&requester, "/anip/audit?limit=100").await;
    assert_eq!(audit["root_principal"], ANA);
    let kinds: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["entry_type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"approval_request_created") && kinds.contains(&"approval_grant_issued"),
        "{kinds:?}"
    );
    let continuation = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["success"] == true && e["entry_type"].is_null())
        .unwrap();
    assert_eq!(continuation["approval_grant_id"], grant_id.as_str());
}
