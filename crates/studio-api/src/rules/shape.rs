//! Shape integrity: a shape's internal references must resolve.

use std::collections::HashSet;

use serde_json::Value;

use super::{array, field};

/// Every integrity problem of a shape (`data.shape`, or `data` itself), in plain words; empty
/// when the shape is consistent. Never fails on malformed input: a malformed part is itself a
/// problem.
pub fn integrity_errors(data: &Value) -> Vec<String> {
    let shape = data.get("shape").filter(|s| s.is_object()).unwrap_or(data);
    let mut errors = Vec::new();
    if !shape.is_object() {
        return vec!["the shape must be a JSON object".to_owned()];
    }
    let services = array(shape, "services");
    let concepts = array(shape, "domain_concepts");

    let mut service_ids = HashSet::new();
    for (index, service) in services.iter().enumerate() {
        let id = field(service, "id");
        if id.is_empty() {
            errors.push(format!("services[{index}] has no id"));
        } else if !service_ids.insert(id.clone()) {
            errors.push(format!("duplicate service ID: {id}"));
        }
    }
    let mut concept_ids = HashSet::new();
    for (index, concept) in concepts.iter().enumerate() {
        let id = field(concept, "id");
        if id.is_empty() {
            errors.push(format!("domain_concepts[{index}] has no id"));
        } else if !concept_ids.insert(id.clone()) {
            errors.push(format!("duplicate concept ID: {id}"));
        }
    }

    match field(shape, "type").as_str() {
        "single_service" if services.len() != 1 => errors.push(format!(
            "single_service shape must have exactly 1 service, found {}",
            services.len()
        )),
        "multi_service" if services.len() < 2 => errors.push(format!(
            "multi_service shape must have at least 2 services, found {}",
            services.len()
        )),
        _ => {}
    }

    for edge in array(shape, "coordination") {
        for end in ["from", "to"] {
            let id = field(edge, end);
            if !service_ids.contains(&id) {
                errors.push(format!(
                    "coordination.{end} '{id}' is not a valid service ID"
                ));
            }
        }
    }
    for concept in concepts {
        let owner = field(concept, "owner");
        if !owner.is_empty() && owner != "shared" && !service_ids.contains(&owner) {
            errors.push(format!(
                "domain_concepts[{}].owner '{owner}' is not a valid service ID",
                field(concept, "id")
            ));
        }
    }
    for service in services {
        for reference in array(service, "owns_concepts") {
            let reference = super::text(Some(reference));
            if !concept_ids.contains(&reference) {
                errors.push(format!(
                    "services[{}].owns_concepts '{reference}' is not a valid concept ID",
                    field(service, "id")
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn consistent_shape_passes() {
        let data = json!({"shape": {"type": "single_service",
            "services": [{"id": "svc", "owns_concepts": ["c"]}],
            "domain_concepts": [{"id": "c", "owner": "svc"}], "coordination": []}});
        assert!(integrity_errors(&data).is_empty());
    }

    #[test]
    fn every_broken_reference_is_reported() {
        let data = json!({"type": "multi_service",
            "services": [{"id": "a", "owns_concepts": ["nope"]}, {"id": "a"}],
            "domain_concepts": [{"id": "c", "owner": "ghost"}],
            "coordination": [{"from": "a", "to": "zzz"}]});
        let errors = integrity_errors(&data);
        assert!(
            errors.contains(&"duplicate service ID: a".to_owned()),
            "{errors:?}"
        );
        assert!(errors.iter().any(|e| e.contains("coordination.to 'zzz'")));
        assert!(errors.iter().any(|e| e.contains("owner 'ghost'")));
        assert!(errors.iter().any(|e| e.contains("owns_concepts 'nope'")));
    }

    #[test]
    fn malformed_input_is_a_finding_not_a_crash() {
        assert_eq!(integrity_errors(&json!([1, 2])).len(), 1);
        assert!(integrity_errors(&json!({"services": [{"name": "x"}]}))
            .iter()
            .any(|e| e.contains("has no id")));
    }
}
