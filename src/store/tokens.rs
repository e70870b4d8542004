//! API tokens: only a hash is stored.

use sqlx::any::AnyRow;

use super::{col, ChangeKind, Store, StoreError, StoreResult};
use crate::model::{new_id, ApiToken, Millis, TokenRole};

const TOKEN_COLS: &str = "id, label, role, hash, created_ms, last_used_ms, revoked_ms";

fn token_from_row(row: &AnyRow) -> StoreResult<ApiToken> {
    let role: String = col(row, "role")?;
    Ok(ApiToken {
        id: col(row, "id")?,
        label: col(row, "label")?,
        role: TokenRole::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        hash: col(row, "hash")?,
        created_ms: col(row, "created_ms")?,
        last_used_ms: col(row, "last_used_ms")?,
        revoked_ms: col(row, "revoked_ms")?,
    })
}

impl Store {
    pub async fn create_token(
        &self,
        label: &str,
        role: TokenRole,
        hash: &str,
    ) -> StoreResult<ApiToken> {
        let t = ApiToken {
            id: new_id(),
            label: label.to_owned(),
            role,
            hash: hash.to_owned(),
            created_ms: self.now(),
            last_used_ms: None,
            revoked_ms: None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, label, role, hash, created_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(t.id.clone())
        .bind(t.label.clone())
        .bind(t.role.as_str())
        .bind(t.hash.clone())
        .bind(t.created_ms)
        .execute(&mut *tx)
        .await?;
        self.bump(&mut tx, &[ChangeKind::Tokens]).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// All tokens, newest first (the API never shows hashes).
    pub async fn list_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_ms DESC, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool()).await?;
        rows.iter().map(token_from_row).collect()
    }

    /// The token stored under `hash`, revoked or not (`None`: no such token).
    pub async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE hash = ?");
        let row = sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.pool())
            .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    pub async fn revoke_token(&self, id: &str) -> StoreResult<ApiToken> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool())
            .await?
            .ok_or(StoreError::NotFound { entity: "token" })?;
        let mut t = token_from_row(&row)?;
        if t.revoked_ms.is_none() {
            let now = self.now();
            let mut tx = self.begin_write().await?;
            sqlx::query("UPDATE api_tokens SET revoked_ms = ? WHERE id = ?")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            self.bump(&mut tx, &[ChangeKind::Tokens]).await?;
            tx.commit().await?;
            t.revoked_ms = Some(now);
        }
        Ok(t)
    }

    /// Records use of a token; best effort, at most once a minute per token by the caller.
    pub async fn touch_token(&self, id: &str, at: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_ms = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(&self.pool())
            .await?;
        Ok(())
    }
}
