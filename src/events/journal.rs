//! The local event journal: an append-only JSON-lines file, fsynced in groups, that holds every
//! sealed event until the store has it.
//!
//! Why a journal in front of the store: a decision that was answered (or opened the door) must
//! survive a power cut even when the database is slow or down. Writing one line and one
//! `fdatasync` per event would cost a disk flush per decision; the journal thread instead takes
//! every event queued since its last flush and commits them with one `fdatasync` (group commit),
//! so the cost per decision falls as the load rises. The file is only ever appended to, except
//! when everything in it is known to be in the store: it is then emptied (compaction).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::model::Event;

/// Append-only JSON-lines file of events not (yet known to be) in the store.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    file: Option<std::fs::File>,
    /// Lines in the file.
    count: usize,
    /// Bytes in the file, for the compaction threshold.
    bytes: u64,
    /// Seq of the newest event appended (of the sink's node); 0 when none since start.
    pub last_seq: i64,
    /// The newest event appended since start, for the chain head saved at compaction.
    pub newest: Option<Event>,
}

impl Journal {
    pub fn open(path: PathBuf) -> std::io::Result<Self> {
        let (count, bytes) = match std::fs::File::open(&path) {
            Ok(f) => {
                let bytes = f.metadata()?.len();
                (std::io::BufReader::new(f).lines().count(), bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, 0),
            Err(e) => return Err(e),
        };
        Ok(Self {
            path,
            file: None,
            count,
            bytes,
            last_seq: 0,
            newest: None,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn file(&mut self) -> std::io::Result<&mut std::fs::File> {
        if self.file.is_none() {
            self.file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        Ok(self.file.as_mut().expect("just opened"))
    }

    /// Appends `events` with one write and one `fdatasync`: when this returns `Ok`, they survive
    /// a power cut.
    pub fn append(&mut self, events: &[Event]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(events.len() * 512);
        for e in events {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        let f = self.file()?;
        f.write_all(&buf)?;
        f.sync_data()?;
        self.count += events.len();
        self.bytes += buf.len() as u64;
        if let Some(e) = events.last() {
            self.last_seq = e.seq;
            self.newest = Some(e.clone());
        }
        Ok(())
    }

    /// Every journaled event in order. A last line without its newline is a write in progress
    /// or torn by a power cut, and is not an event (yet): it is left out. Reading needs no lock:
    /// the file is only appended to, and only the reader (the store actor) empties it.
    pub fn read_all(&self) -> std::io::Result<Vec<Event>> {
        read_events(&self.path)
    }

    /// Empties the file (everything in it is in the store) and makes that durable.
    pub fn clear(&mut self) -> std::io::Result<()> {
        let f = self.file()?;
        f.set_len(0)?;
        f.sync_all()?;
        self.count = 0;
        self.bytes = 0;
        Ok(())
    }
}

/// See [`Journal::read_all`].
pub(super) fn read_events(path: &Path) -> std::io::Result<Vec<Event>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let complete = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(&bytes[..0], |end| &bytes[..=end]);
    let mut out = Vec::new();
    for line in complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice(line) {
            Ok(e) => out.push(e),
            Err(e) => log::warn!("skipping unreadable event journal line: {e}"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Chain, EventDraft};

    #[test]
    fn appends_survive_reopening_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut chain = Chain::new("n");
        let events: Vec<Event> = (0..3)
            .map(|i| chain.seal(EventDraft::default(), i))
            .collect();
        let mut j = Journal::open(path.clone()).unwrap();
        j.append(&events[..2]).unwrap();
        j.append(&events[2..]).unwrap();
        assert_eq!(j.last_seq, 3);
        // A power cut in the middle of a later write leaves half a line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"id\":\"half")
            .unwrap();
        let j = Journal::open(path).unwrap();
        assert_eq!(j.len(), 4);
        assert_eq!(j.read_all().unwrap(), events);
    }

    #[test]
    fn clear_empties_the_file_and_appending_continues() {
        let dir = tempfile::tempdir().unwrap();
        let mut chain = Chain::new("n");
        let mut j = Journal::open(dir.path().join("events.jsonl")).unwrap();
        j.append(&[chain.seal(EventDraft::default(), 1)]).unwrap();
        j.clear().unwrap();
        assert_eq!((j.len(), j.bytes()), (0, 0));
        let e = chain.seal(EventDraft::default(), 2);
        j.append(std::slice::from_ref(&e)).unwrap();
        assert_eq!(j.read_all().unwrap(), vec![e]);
    }
}
