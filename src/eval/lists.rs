//! `wardgate eval lists`: the gallery / probe / stranger split of a `people/<id>/` tree.
//!
//! Deterministic (names sorted), so a run can be repeated and compared: people with more than
//! `enrol` photos enrol their first `enrol` and probe with the rest; people with fewer photos
//! are strangers (every photo of theirs is one non-mated search). On LFW this enrols everybody
//! with a second photo and leaves the one-photo people, who are never enrolled, as strangers.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};

/// The three lists as CSV text: (gallery, probes, strangers).
pub fn split(
    people: &[(String, Vec<String>)],
    enrol: usize,
    max_strangers: Option<usize>,
) -> (String, String, String) {
    let header = "path,identity\n";
    let (mut g, mut p, mut s) = (header.to_owned(), header.to_owned(), header.to_owned());
    let mut strangers = 0usize;
    for (id, photos) in people {
        if photos.len() > enrol {
            for (i, photo) in photos.iter().enumerate() {
                let list = if i < enrol { &mut g } else { &mut p };
                let _ = writeln!(list, "people/{id}/{photo},{id}");
            }
        } else if max_strangers.is_none_or(|m| strangers < m) {
            strangers += 1;
            for photo in photos {
                let _ = writeln!(s, "people/{id}/{photo},{id}");
            }
        }
    }
    (g, p, s)
}

/// Reads `root/people`, writes `out/{gallery,probes,strangers}.csv`.
pub fn write(
    root: &Path,
    out: &Path,
    enrol: usize,
    max_strangers: Option<usize>,
) -> anyhow::Result<()> {
    if enrol == 0 {
        bail!("--enrol must be at least 1");
    }
    let dir = root.join("people");
    let mut people = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        if !e.file_type()?.is_dir() {
            continue;
        }
        let id = e.file_name().to_string_lossy().into_owned();
        if id.contains(',') {
            bail!("{id:?}: identity folders must not contain commas");
        }
        let mut photos: Vec<String> = std::fs::read_dir(e.path())?
            .filter_map(Result::ok)
            .map(|f| f.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                let n = n.to_ascii_lowercase();
                n.ends_with(".jpg") || n.ends_with(".jpeg") || n.ends_with(".png")
            })
            .collect();
        photos.sort();
        if !photos.is_empty() {
            people.push((id, photos));
        }
    }
    people.sort();
    let (g, p, s) = split(&people, enrol, max_strangers);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, text) in [
        ("gallery.csv", &g),
        ("probes.csv", &p),
        ("strangers.csv", &s),
    ] {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("{}: {} photos", path.display(), text.lines().count() - 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_enrols_the_first_photos_and_leaves_the_rest_as_probes_or_strangers() {
        let people = vec![
            (
                "A".to_owned(),
                vec!["1.jpg".to_owned(), "2.jpg".to_owned(), "3.jpg".to_owned()],
            ),
            ("B".to_owned(), vec!["1.jpg".to_owned()]),
            ("C".to_owned(), vec!["1.jpg".to_owned()]),
        ];
        let (g, p, s) = split(&people, 1, None);
        assert_eq!(g, "path,identity\npeople/A/1.jpg,A\n");
        assert_eq!(p, "path,identity\npeople/A/2.jpg,A\npeople/A/3.jpg,A\n");
        assert_eq!(s, "path,identity\npeople/B/1.jpg,B\npeople/C/1.jpg,C\n");
        let (_, _, s) = split(&people, 1, Some(1));
        assert_eq!(s.lines().count(), 2);
        // With two enrolment photos A still enrols (it has a third to probe with).
        let (g, p, _) = split(&people, 2, None);
        assert_eq!(g.lines().count(), 3);
        assert_eq!(p.lines().count(), 2);
    }
}
