//! Doors and their decision mode.

use sqlx::any::AnyRow;

use super::{col, ChangeKind, Store, StoreError, StoreResult};
use crate::model::{Door, DoorMode};

fn door_from_row(row: &AnyRow) -> StoreResult<Door> {
    let mode: String = col(row, "mode")?;
    Ok(Door {
        id: col(row, "id")?,
        name: col(row, "name")?,
        mode: DoorMode::parse(&mode).ok_or_else(|| StoreError::Corrupt(format!("mode {mode}")))?,
        created_ms: col(row, "created_ms")?,
        updated_ms: col(row, "updated_ms")?,
    })
}

impl Store {
    pub async fn create_door(&self, id: &str, name: &str, mode: DoorMode) -> StoreResult<Door> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("SELECT id FROM doors WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict {
                field: "id",
                message: format!("a door with id {id:?} exists"),
            });
        }
        let now = self.now();
        let door = Door {
            id: id.to_owned(),
            name: name.to_owned(),
            mode,
            created_ms: now,
            updated_ms: now,
        };
        sqlx::query(
            "INSERT INTO doors (id, name, mode, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(door.id.clone())
        .bind(door.name.clone())
        .bind(door.mode.as_str())
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.bump(&mut tx, &[ChangeKind::Doors]).await?;
        tx.commit().await?;
        Ok(door)
    }

    pub async fn get_door(&self, id: &str) -> StoreResult<Door> {
        let row =
            sqlx::query("SELECT id, name, mode, created_ms, updated_ms FROM doors WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool())
                .await?
                .ok_or(StoreError::NotFound { entity: "door" })?;
        door_from_row(&row)
    }

    pub async fn list_doors(&self) -> StoreResult<Vec<Door>> {
        let rows =
            sqlx::query("SELECT id, name, mode, created_ms, updated_ms FROM doors ORDER BY id")
                .fetch_all(&self.pool())
                .await?;
        rows.iter().map(door_from_row).collect()
    }

    pub async fn update_door(
        &self,
        id: &str,
        name: Option<&str>,
        mode: Option<DoorMode>,
    ) -> StoreResult<Door> {
        let mut door = self.get_door(id).await?;
        if let Some(n) = name {
            door.name = n.to_owned();
        }
        if let Some(m) = mode {
            door.mode = m;
        }
        door.updated_ms = self.now();
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE doors SET name = ?, mode = ?, updated_ms = ? WHERE id = ?")
            .bind(door.name.clone())
            .bind(door.mode.as_str())
            .bind(door.updated_ms)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            // Deleted between the read and the write.
            return Err(StoreError::NotFound { entity: "door" });
        }
        self.bump(&mut tx, &[ChangeKind::Doors]).await?;
        tx.commit().await?;
        Ok(door)
    }

    /// Deletes a door and the grants that name it.
    pub async fn delete_door(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM doors WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound { entity: "door" });
        }
        sqlx::query("DELETE FROM grants WHERE target_kind = 'door' AND target_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        self.bump(&mut tx, &[ChangeKind::Doors, ChangeKind::Grants])
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
