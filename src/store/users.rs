//! Console accounts: people who log in to the web console. Only argon2id hashes are stored.

use sqlx::any::AnyRow;

use super::{col, Store, StoreError, StoreResult};
use crate::model::{new_id, Millis, TokenRole};

/// A console account as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleUser {
    pub id: String,
    pub name: String,
    /// `admin` or `technician`.
    pub role: TokenRole,
    /// argon2id PHC string.
    pub password_hash: String,
    pub created_ms: Millis,
    pub updated_ms: Millis,
    pub last_login_ms: Option<Millis>,
    pub disabled_ms: Option<Millis>,
    /// The RFC 6238 shared secret (base32) when the account has a second factor.
    pub totp_secret: Option<String>,
}

const USER_COLS: &str =
    "id, name, role, password_hash, created_ms, updated_ms, last_login_ms, disabled_ms, totp_secret";

fn user_from_row(row: &AnyRow) -> StoreResult<ConsoleUser> {
    let role: String = col(row, "role")?;
    Ok(ConsoleUser {
        id: col(row, "id")?,
        name: col(row, "name")?,
        role: TokenRole::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        password_hash: col(row, "password_hash")?,
        created_ms: col(row, "created_ms")?,
        updated_ms: col(row, "updated_ms")?,
        last_login_ms: col(row, "last_login_ms")?,
        disabled_ms: col(row, "disabled_ms")?,
        totp_secret: col(row, "totp_secret")?,
    })
}

impl Store {
    /// Creates an account; a taken name is a conflict on `name`.
    pub async fn create_user(
        &self,
        name: &str,
        role: TokenRole,
        password_hash: &str,
    ) -> StoreResult<ConsoleUser> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("SELECT id FROM console_users WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict {
                field: "name",
                message: format!("a console user named {name:?} exists"),
            });
        }
        let now = self.now();
        let u = ConsoleUser {
            id: new_id(),
            name: name.to_owned(),
            role,
            password_hash: password_hash.to_owned(),
            created_ms: now,
            updated_ms: now,
            last_login_ms: None,
            disabled_ms: None,
            totp_secret: None,
        };
        sqlx::query(
            "INSERT INTO console_users (id, name, role, password_hash, created_ms, updated_ms) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(u.id.clone())
        .bind(u.name.clone())
        .bind(u.role.as_str())
        .bind(u.password_hash.clone())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u)
    }

    /// The account with this login name (disabled ones included: the caller decides).
    pub async fn user_by_name(&self, name: &str) -> StoreResult<Option<ConsoleUser>> {
        let sql = format!("SELECT {USER_COLS} FROM console_users WHERE name = ?");
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// All accounts, by name.
    pub async fn list_users(&self) -> StoreResult<Vec<ConsoleUser>> {
        let sql = format!("SELECT {USER_COLS} FROM console_users ORDER BY name");
        let rows = sqlx::query(&sql).fetch_all(&self.pool()).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Replaces the password hash (the `user passwd` command).
    pub async fn set_user_password(&self, name: &str, password_hash: &str) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE console_users SET password_hash = ?, updated_ms = ? WHERE name = ?",
        )
        .bind(password_hash)
        .bind(self.now())
        .bind(name)
        .execute(&self.pool())
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                entity: "console user",
            });
        }
        Ok(())
    }

    /// The account with this id.
    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<ConsoleUser>> {
        let sql = format!("SELECT {USER_COLS} FROM console_users WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool())
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Sets (`Some`, base32) or removes (`None`) the account's TOTP secret.
    pub async fn set_user_totp(&self, id: &str, secret: Option<&str>) -> StoreResult<()> {
        let r =
            sqlx::query("UPDATE console_users SET totp_secret = ?, updated_ms = ? WHERE id = ?")
                .bind(secret.map(str::to_owned))
                .bind(self.now())
                .bind(id)
                .execute(&self.pool())
                .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                entity: "console user",
            });
        }
        Ok(())
    }

    /// Deletes an account.
    pub async fn delete_user(&self, id: &str) -> StoreResult<ConsoleUser> {
        let sql = format!("SELECT {USER_COLS} FROM console_users WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool())
            .await?
            .ok_or(StoreError::NotFound {
                entity: "console user",
            })?;
        let u = user_from_row(&row)?;
        sqlx::query("DELETE FROM console_users WHERE id = ?")
            .bind(id)
            .execute(&self.pool())
            .await?;
        Ok(u)
    }

    /// Records a successful login (best effort).
    pub async fn touch_user_login(&self, id: &str, at: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE console_users SET last_login_ms = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(&self.pool())
            .await?;
        Ok(())
    }
}
