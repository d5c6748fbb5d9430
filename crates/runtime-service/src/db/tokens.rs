//! `runtime_tokens`. Statements are prepared once per pooled connection (`prepare_cached`), so
//! a lookup costs one round trip.

use serde_json::Value;
use tokio_postgres::Row;

use super::{query_error, DbError};
use crate::delegation::Token;

const COLUMNS: &str = "token_id, issuer, subject, scope, purpose, parent_token_id, root_principal, constraints, caller_class, session_id, issued_at, expires_at";

/// Stores a newly issued token.
pub async fn insert(pool: &store::Pool, token: &Token) -> Result<(), DbError> {
    let client = pool.get().await?;
    let scope = serde_json::to_value(&token.scope).map_err(|_| DbError::Corrupt("token scope"))?;
    let purpose =
        serde_json::to_value(&token.purpose).map_err(|_| DbError::Corrupt("token purpose"))?;
    let constraints = serde_json::to_value(&token.constraints)
        .map_err(|_| DbError::Corrupt("token constraints"))?;
    let statement = client
        .prepare_cached(&format!("INSERT INTO runtime_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
        .await
        .map_err(query_error("preparing a token insert"))?;
    client
        .execute(
            &statement,
            &[
                &token.token_id,
                &token.issuer,
                &token.subject,
                &scope,
                &purpose,
                &token.parent,
                &token.root_principal,
                &constraints,
                &token.caller_class,
                &token.session_id,
                &token.issued_at,
                &token.expires_at,
            ],
        )
        .await
        .map_err(query_error("storing a token"))?;
    Ok(())
}

/// Stores newly issued tokens in one statement (one commit for all of them).
pub async fn insert_many(client: &store::PooledClient, tokens: &[Token]) -> Result<(), DbError> {
    let json = |value: Result<serde_json::Value, serde_json::Error>, what| {
        value.map_err(|_| DbError::Corrupt(what))
    };
    let mut scope = Vec::with_capacity(tokens.len());
    let mut purpose = Vec::with_capacity(tokens.len());
    let mut constraints = Vec::with_capacity(tokens.len());
    for token in tokens {
        scope.push(json(serde_json::to_value(&token.scope), "token scope")?);
        purpose.push(json(serde_json::to_value(&token.purpose), "token purpose")?);
        constraints.push(json(
            serde_json::to_value(&token.constraints),
            "token constraints",
        )?);
    }
    let column = |f: fn(&Token) -> String| tokens.iter().map(f).collect::<Vec<String>>();
    let optional =
        |f: fn(&Token) -> Option<String>| tokens.iter().map(f).collect::<Vec<Option<String>>>();
    let statement = client
        .prepare_cached(&format!(
            "INSERT INTO runtime_tokens ({COLUMNS})
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[],
                                  $6::text[], $7::text[], $8::jsonb[], $9::text[], $10::text[],
                                  $11::timestamptz[], $12::timestamptz[])"
        ))
        .await
        .map_err(query_error("preparing a token insert"))?;
    client
        .execute(
            &statement,
            &[
                &column(|t| t.token_id.clone()),
                &column(|t| t.issuer.clone()),
                &column(|t| t.subject.clone()),
                &scope,
                &purpose,
                &optional(|t| t.parent.clone()),
                &column(|t| t.root_principal.clone()),
                &constraints,
                &optional(|t| t.caller_class.clone()),
                &optional(|t| t.session_id.clone()),
                &tokens.iter().map(|t| t.issued_at).collect::<Vec<_>>(),
                &tokens.iter().map(|t| t.expires_at).collect::<Vec<_>>(),
            ],
        )
        .await
        .map_err(query_error("storing tokens"))?;
    Ok(())
}

fn from_row(row: &Row) -> Result<Token, DbError> {
    let json = |index: usize| -> Value { row.get(index) };
    Ok(Token {
        token_id: row.get(0),
        issuer: row.get(1),
        subject: row.get(2),
        scope: serde_json::from_value(json(3)).map_err(|_| DbError::Corrupt("token scope"))?,
        purpose: serde_json::from_value(json(4)).map_err(|_| DbError::Corrupt("token purpose"))?,
        parent: row.get(5),
        root_principal: row.get(6),
        constraints: serde_json::from_value(json(7))
            .map_err(|_| DbError::Corrupt("token constraints"))?,
        caller_class: row.get(8),
        session_id: row.get(9),
        issued_at: row.get(10),
        expires_at: row.get(11),
    })
}

/// The token with this id.
pub async fn get(pool: &store::Pool, token_id: &str) -> Result<Option<Token>, DbError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM runtime_tokens WHERE token_id = $1"
        ))
        .await
        .map_err(query_error("preparing a token lookup"))?;
    let row = client
        .query_opt(&statement, &[&token_id])
        .await
        .map_err(query_error("loading a token"))?;
    row.as_ref().map(from_row).transpose()
}

/// The chain from the root to `token_id`, root first, in one recursive query. A chain whose
/// root has a parent is incomplete (an ancestor is missing).
pub async fn chain(pool: &store::Pool, token_id: &str) -> Result<Vec<Token>, DbError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
                "WITH RECURSIVE chain AS (
                     SELECT {COLUMNS}, 0 AS depth FROM runtime_tokens WHERE token_id = $1
                     UNION ALL
                     SELECT t.token_id, t.issuer, t.subject, t.scope, t.purpose, t.parent_token_id, t.root_principal,
                            t.constraints, t.caller_class, t.session_id, t.issued_at, t.expires_at, c.depth + 1
                     FROM runtime_tokens t JOIN chain c ON t.token_id = c.parent_token_id
                     WHERE c.depth < 64
                 )
                 SELECT {COLUMNS} FROM chain ORDER BY depth DESC"
        ))
        .await
        .map_err(query_error("preparing a delegation chain lookup"))?;
    let rows = client
        .query(&statement, &[&token_id])
        .await
        .map_err(query_error("loading a delegation chain"))?;
    rows.iter().map(from_row).collect()
}
