//! The deterministic assistant: reads Markdown structure (headings, paragraphs, bullets) and
//! API lines (`POST /path`), and maps them onto product sections and capability candidates.
//! Same documents, same proposal, every time; no network.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{CapabilityProposal, Context, SectionProposal};

/// One Markdown section: its heading (lowercase) and body lines.
#[derive(Debug, Default)]
struct Block {
    heading: String,
    paragraphs: Vec<String>,
    bullets: Vec<(String, usize)>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = vec![Block::default()];
    let mut paragraph = String::new();
    let flush = |paragraph: &mut String, block: &mut Block| {
        let p = paragraph.trim();
        if !p.is_empty() {
            block.paragraphs.push(p.to_owned());
        }
        paragraph.clear();
    };
    let mut in_code = false;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some(heading) = trimmed.strip_prefix('#') {
            if let Some(block) = out.last_mut() {
                flush(&mut paragraph, block);
            }
            out.push(Block {
                heading: heading.trim_start_matches('#').trim().to_lowercase(),
                ..Block::default()
            });
            continue;
        }
        let bullet = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
            .or_else(|| {
                let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
                (digits > 0)
                    .then(|| trimmed[digits..].strip_prefix(". "))
                    .flatten()
            });
        let Some(block) = out.last_mut() else {
            continue;
        };
        if let Some(item) = bullet {
            flush(&mut paragraph, block);
            block.bullets.push((item.trim().to_owned(), number + 1));
        } else if trimmed.is_empty() {
            flush(&mut paragraph, block);
        } else {
            if !paragraph.is_empty() {
                paragraph.push(' ');
            }
            paragraph.push_str(trimmed);
        }
    }
    if let Some(block) = out.last_mut() {
        flush(&mut paragraph, block);
    }
    out
}

fn matches(heading: &str, words: &[&str]) -> bool {
    words.iter().any(|w| heading.contains(w))
}

fn slug(text: &str, sep: char) -> String {
    let mut out = String::new();
    for c in text.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(sep) && !out.is_empty() {
            out.push(sep);
        }
    }
    out.trim_end_matches(sep).chars().take(60).collect()
}

/// Splits "Title: description" or "Title — description" bullets.
fn title_and_text(item: &str) -> (String, String) {
    let clean = item.replace("**", "");
    for sep in [": ", " — ", " - ", " – "] {
        if let Some((title, rest)) = clean.split_once(sep) {
            if title.len() <= 80 {
                return (title.trim().to_owned(), rest.trim().to_owned());
            }
        }
    }
    (clean.trim().to_owned(), clean.trim().to_owned())
}

fn access_posture(text: &str) -> &'static str {
    let lower = text.to_lowercase();
    if ["never", "must not", "cannot", "denied", "deny"]
        .iter()
        .any(|w| lower.contains(w))
    {
        "denied"
    } else if ["approv", "sign-off", "sign off"]
        .iter()
        .any(|w| lower.contains(w))
    {
        "approval_required"
    } else {
        "bounded"
    }
}

/// Drafts the six sections from the documents' structure.
pub fn draft_sections(context: &Context) -> SectionProposal {
    let mut all = Vec::new();
    for document in &context.documents {
        all.extend(blocks(&document.text));
    }
    let pick = |words: &[&str]| -> Vec<&Block> {
        all.iter().filter(|b| matches(&b.heading, words)).collect()
    };
    let paragraphs = |blocks: &[&Block]| -> Vec<String> {
        blocks.iter().flat_map(|b| b.paragraphs.clone()).collect()
    };
    let bullets = |blocks: &[&Block]| -> Vec<String> {
        blocks
            .iter()
            .flat_map(|b| b.bullets.iter().map(|(t, _)| t.clone()))
            .collect()
    };
    let first_paragraph = all
        .iter()
        .flat_map(|b| b.paragraphs.iter())
        .next()
        .cloned()
        .unwrap_or_default();

    let mut sections = BTreeMap::new();
    let mut questions = Vec::new();

    let purpose = paragraphs(&pick(&["purpose", "overview", "summary", "introduction"]))
        .into_iter()
        .next()
        .unwrap_or(first_paragraph);
    let problem = paragraphs(&pick(&["problem", "background", "context"])).join(" ");
    let goals_blocks: Vec<&Block> = pick(&["goal", "objective"])
        .into_iter()
        .filter(|b| !matches(&b.heading, &["non-goal", "non goal", "non_goal"]))
        .collect();
    let goals = bullets(&goals_blocks);
    let why_now = paragraphs(&pick(&["why now", "motivation", "timing"])).join(" ");
    if purpose.is_empty() {
        questions.push("What is the product for, in one or two sentences?".to_owned());
    }
    if goals.is_empty() {
        questions.push("Which business goals should the service serve?".to_owned());
    }
    sections.insert(
        "product_summary".to_owned(),
        json!({
            "product_purpose": purpose,
            "business_problem": problem,
            "business_goals": goals,
            "why_now": why_now,
            "governed_behavior_summary": "",
            "approval_posture_summary": "",
            "success_outcome_summary": "",
            "supported_question_families": [],
            "multi_step_composition_rules": [],
        }),
    );

    let actor_items = bullets(&pick(&["actor", "user", "persona", "role", "who"]));
    if actor_items.is_empty() {
        questions.push("Who uses the service, and on whose behalf do agents act?".to_owned());
    } else {
        let actors: Vec<Value> = actor_items
            .iter()
            .map(|item| {
                let (title, summary) = title_and_text(item);
                json!({"actor_id": slug(&title, '_'), "title": title, "summary": summary,
                       "action_expectations": "", "approval_expectations": "", "visibility_expectations": "", "notes": ""})
            })
            .collect();
        sections.insert("actor_model".to_owned(), json!({ "actors": actors }));
    }

    let area_items = bullets(&pick(&["area", "domain", "scope", "module"]));
    if !area_items.is_empty() {
        let entries: Vec<Value> = area_items
            .iter()
            .map(|item| {
                let (label, description) = title_and_text(item);
                json!({"business_area_id": slug(&label, '_'), "label": label, "description": description})
            })
            .collect();
        sections.insert("business_areas".to_owned(), json!({ "entries": entries }));
    } else {
        questions.push("Which business areas does the service cover?".to_owned());
    }

    let permission_blocks = pick(&[
        "permission",
        "access",
        "approval",
        "policy",
        "rule",
        "governance",
    ]);
    let permission_items = bullets(&permission_blocks);
    if !permission_items.is_empty() {
        let rules: Vec<Value> = permission_items
            .iter()
            .map(|item| json!({"access_posture": access_posture(item), "governed_outcome": item, "actor_id": "", "business_area": "", "notes": ""}))
            .collect();
        sections.insert(
            "permission_intent".to_owned(),
            json!({"policy_summary": paragraphs(&permission_blocks).join(" "), "rules": rules}),
        );
    } else {
        questions.push(
            "What may each actor do, and what needs approval or is never allowed?".to_owned(),
        );
    }

    let non_goals = bullets(&pick(&[
        "non-goal",
        "non goal",
        "out of scope",
        "not in scope",
    ]));
    if !non_goals.is_empty() {
        sections.insert(
            "non_goals".to_owned(),
            json!({"entries": non_goals.iter().map(|n| json!({"non_goal": n})).collect::<Vec<_>>()}),
        );
    }
    let criteria = bullets(&pick(&[
        "success",
        "metric",
        "acceptance",
        "criteria",
        "outcome",
    ]));
    if !criteria.is_empty() {
        sections.insert(
            "success_criteria".to_owned(),
            json!({"entries": criteria.iter().map(|c| json!({"criterion": c})).collect::<Vec<_>>()}),
        );
    } else {
        questions.push("How will you know the service succeeded?".to_owned());
    }

    SectionProposal {
        provider: "deterministic".to_owned(),
        sections,
        questions,
        document_ids: context.documents.iter().map(|d| d.id.clone()).collect(),
    }
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn verb_for(method: &str, path: &str) -> &'static str {
    let last = path
        .rsplit('/')
        .find(|s| !s.is_empty() && !s.starts_with('{') && !s.starts_with(':'))
        .unwrap_or("");
    if ["approve", "approval"].contains(&last) {
        return "approve";
    }
    match method {
        "GET" if path.trim_end_matches('/').ends_with('}') => "get",
        "GET" => "search",
        "POST" => "create",
        "PUT" | "PATCH" => "update",
        _ => "delete",
    }
}

fn side_effect(method: &str, path: &str) -> &'static str {
    let lower = path.to_lowercase();
    match method {
        "GET" => "read",
        _ if lower.contains("approve") || method == "DELETE" => "approval_required",
        _ => "write_adjacent",
    }
}

/// Proposes capabilities from backticked capability ids, API lines and bullets under
/// capability headings.
pub fn propose_capabilities(context: &Context) -> CapabilityProposal {
    let domain = {
        let d = slug(&context.domain, '_');
        if d.is_empty() {
            slug(&context.project_name, '_')
        } else {
            d
        }
    };
    let domain = if domain.is_empty() {
        "service".to_owned()
    } else {
        domain
    };
    let service_id = format!("{}-service", domain.replace('_', "-"));
    let mut seen = Vec::new();
    let mut candidates = Vec::new();
    let mut push = |id: String,
                    title: String,
                    summary: String,
                    side: &str,
                    inputs: Vec<Value>,
                    doc: &super::SourceText,
                    line: usize| {
        if seen.contains(&id) || !crate::rules::definition::is_capability_id(&id) {
            return;
        }
        seen.push(id.clone());
        candidates.push(json!({
            "capability_id": id,
            "title": title,
            "summary": summary,
            "service_id": service_id,
            "side_effect_level": side,
            "intent_type": intent_type(side),
            "operation_type": operation_type(side),
            "kind": "atomic",
            "inputs": inputs,
            "source": {"document_id": doc.id, "document_title": doc.title, "line": line},
        }));
    };
    for document in &context.documents {
        for (number, line) in document.text.lines().enumerate() {
            let trimmed = line.trim().trim_start_matches(['-', '*', ' ']).trim();
            // `POST /reports/{id}/approve` style API lines.
            let mut words = trimmed.split_whitespace();
            if let (Some(method), Some(path)) = (words.next(), words.next()) {
                let method = method.trim_matches('`').to_uppercase();
                let path = path.trim_matches('`');
                if METHODS.contains(&method.as_str()) && path.starts_with('/') {
                    let nouns: Vec<String> = path
                        .split('/')
                        .filter(|s| {
                            !s.is_empty()
                                && !s.starts_with('{')
                                && !s.starts_with(':')
                                && !["approve", "approval"].contains(s)
                        })
                        .map(|s| slug(s, '_'))
                        .filter(|s| !s.is_empty())
                        .collect();
                    let object = nouns.last().cloned().unwrap_or_else(|| "resource".into());
                    let verb = verb_for(&method, path);
                    let inputs: Vec<Value> = path
                        .split('/')
                        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')).or_else(|| s.strip_prefix(':')))
                        .map(|name| json!({"input_name": slug(name, '_'), "input_type": "string", "required": true,
                                           "summary": format!("The {} from the path.", name), "clarification_hint": format!("Ask which {} is meant.", name)}))
                        .collect();
                    let rest: String = words.collect::<Vec<_>>().join(" ");
                    let summary = if rest.trim().is_empty() {
                        format!("{method} {path}")
                    } else {
                        rest.trim()
                            .trim_start_matches(['-', '—', ':'])
                            .trim()
                            .to_owned()
                    };
                    push(
                        format!("{domain}.{object}.{verb}"),
                        format!("{} {}", capitalize(verb), object.replace('_', " ")),
                        summary,
                        side_effect(&method, path),
                        inputs,
                        document,
                        number + 1,
                    );
                    continue;
                }
            }
            // `domain.object.action` ids in backticks.
            for (index, part) in line.split('`').enumerate() {
                if index % 2 == 1 && crate::rules::definition::is_capability_id(part.trim()) {
                    let id = part.trim().to_owned();
                    let summary = line
                        .replace('`', "")
                        .trim()
                        .trim_start_matches(['-', '*', ' '])
                        .to_owned();
                    let title = id
                        .rsplit('.')
                        .take(2)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join(" ")
                        .replace('_', " ");
                    push(
                        id,
                        capitalize(&title),
                        summary,
                        "read",
                        Vec::new(),
                        document,
                        number + 1,
                    );
                }
            }
        }
        for block in blocks(&document.text) {
            if !matches(
                &block.heading,
                &["capabilit", "operation", "action", "what agents can do"],
            ) {
                continue;
            }
            for (item, line) in &block.bullets {
                if item.contains('`') {
                    continue;
                }
                let (title, summary) = title_and_text(item);
                let words: Vec<String> = title
                    .split_whitespace()
                    .map(|w| slug(w, '_'))
                    .filter(|w| {
                        !w.is_empty()
                            && !["a", "an", "the", "to", "of", "for"].contains(&w.as_str())
                    })
                    .collect();
                if words.is_empty() {
                    continue;
                }
                let verb = words[0].clone();
                let object = words[1..].join("_");
                let object = if object.is_empty() {
                    "item".to_owned()
                } else {
                    object
                };
                let side = match verb.as_str() {
                    "list" | "search" | "find" | "get" | "view" | "show" | "look" | "read" => {
                        "read"
                    }
                    "approve" | "delete" | "pay" | "reject" => "approval_required",
                    _ => "write_adjacent",
                };
                push(
                    format!("{domain}.{object}.{verb}"),
                    title.clone(),
                    summary,
                    side,
                    Vec::new(),
                    document,
                    *line,
                );
            }
        }
    }
    CapabilityProposal {
        provider: "deterministic".to_owned(),
        candidates,
        document_ids: context.documents.iter().map(|d| d.id.clone()).collect(),
    }
}

/// The intent a side-effect level implies.
fn intent_type(side_effect: &str) -> &'static str {
    match side_effect {
        "read" | "none" => "read_only",
        "approval_required" => "approval_gated",
        _ => "business_action",
    }
}

/// The operation a side-effect level implies.
fn operation_type(side_effect: &str) -> &'static str {
    match side_effect {
        "read" | "none" => "query",
        "approval_required" => "approval_gated",
        _ => "prepare_change",
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::SourceText;

    const SPEC: &str = "# Expense approvals\n\nEmployees submit expense reports; managers approve them.\n\n## Problem\n\nApprovals happen in email.\n\n## Goals\n\n- Faster approvals\n- Fewer policy violations\n\n## Actors\n\n- Employee: submits reports\n- Manager: approves reports\n\n## Business areas\n\n- Expenses: reports and receipts\n\n## Permissions\n\n- Managers approve reports of their team\n- Employees never approve their own reports\n\n## Non-goals\n\n- Payroll\n\n## Success criteria\n\n- 90% approved within two days\n\n## Capabilities\n\n- Submit expense report: file a report with receipts\n- List pending reports: what awaits approval\n\n## API\n\n- `POST /reports/{report_id}/approve` approve a report\n- `GET /reports` search reports\n- Lookups use `expenses.policy.lookup` for policy rules.\n";

    fn context() -> Context {
        Context {
            project_name: "Expense Approvals".into(),
            domain: "expenses".into(),
            documents: vec![SourceText {
                id: "d1".into(),
                title: "Spec".into(),
                kind: "business_spec".into(),
                text: SPEC.into(),
            }],
        }
    }

    #[test]
    fn sections_come_from_headings() {
        let proposal = draft_sections(&context());
        assert_eq!(
            proposal.sections["product_summary"]["product_purpose"],
            "Employees submit expense reports; managers approve them."
        );
        assert_eq!(
            proposal.sections["product_summary"]["business_goals"],
            json!(["Faster approvals", "Fewer policy violations"])
        );
        assert_eq!(
            proposal.sections["actor_model"]["actors"][1]["actor_id"],
            "manager"
        );
        assert_eq!(
            proposal.sections["permission_intent"]["rules"][1]["access_posture"],
            "denied"
        );
        assert_eq!(
            proposal.sections["permission_intent"]["rules"][0]["access_posture"],
            "approval_required"
        );
        assert_eq!(proposal.sections.len(), 6);
        assert!(proposal.questions.is_empty(), "{:?}", proposal.questions);
        assert_eq!(draft_sections(&context()), proposal, "deterministic");
    }

    #[test]
    fn capabilities_come_from_api_lines_ids_and_bullets() {
        let proposal = propose_capabilities(&context());
        let ids: Vec<&str> = proposal
            .candidates
            .iter()
            .filter_map(|c| c["capability_id"].as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "expenses.reports.approve",
                "expenses.reports.search",
                "expenses.policy.lookup",
                "expenses.expense_report.submit",
                "expenses.pending_reports.list"
            ]
        );
        assert_eq!(
            proposal.candidates[0]["side_effect_level"],
            "approval_required"
        );
        assert_eq!(
            proposal.candidates[0]["inputs"][0]["input_name"],
            "report_id"
        );
        assert_eq!(proposal.candidates[0]["source"]["line"], 43);
    }

    #[test]
    fn empty_documents_produce_questions() {
        let mut ctx = context();
        ctx.documents[0].text = "nothing useful".into();
        let proposal = draft_sections(&ctx);
        assert!(proposal.questions.len() >= 4);
    }
}
