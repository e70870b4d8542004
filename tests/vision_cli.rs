//! `wardgate enroll` / `identify` logic against a real SQLite store and the real models.

use std::path::{Path, PathBuf};

use wardgate::cli::photos as cli;
use wardgate::config::Config;
use wardgate::model::{Role, SubjectStatus};
use wardgate::store::Store;
use wardgate::vision::{Engine, FaceEncoder as _};

fn faces() -> PathBuf {
    std::env::var_os("WARDGATE_FACES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faces"),
        PathBuf::from,
    )
}

#[tokio::test]
async fn enroll_stores_templates_of_the_model_and_identify_finds_the_subject() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.database.url = format!("sqlite://{}?mode=rwc", tmp.path().join("w.db").display());
    cfg.vision.model_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let store = Store::open(&cfg.database, &cfg.privacy).await.unwrap();
    let subject = store
        .create_subject(
            "S-0001",
            "Test Subject",
            Role::Nurse,
            SubjectStatus::Active,
            "admin",
        )
        .await
        .unwrap();
    // Enrolment asks for the person's consent first (privacy.require_consent, the default).
    store
        .record_consent(
            &subject.id,
            &wardgate::privacy::consent::ConsentInput {
                scope: wardgate::privacy::consent::ConsentScope::FaceRecognition,
                method: wardgate::privacy::consent::ConsentMethod::Written,
                document: "FR-01 v3".into(),
                recorded_by: "test".into(),
            },
        )
        .await
        .unwrap();
    let people = faces().join("people/S001");
    let enrolled = [
        people.join("S001-01-t10_01.jpg"),
        people.join("S001-02-t10_01.jpg"),
    ];
    cli::enroll(cfg.clone(), "S-0001", &enrolled).await.unwrap();
    let stored = store.list_faces(&subject.id).await.unwrap();
    assert_eq!(stored.len(), 2);

    // A profile photo is refused by the quality gate and nothing is stored for it.
    let err = cli::enroll(cfg.clone(), "S-0001", &[people.join("S001-08-t10_02.jpg")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(store.list_faces(&subject.id).await.unwrap().len(), 2);
    assert!(cli::enroll(cfg.clone(), "nobody", &enrolled).await.is_err());

    // Identify runs end to end; the gallery it searches finds the subject for a third photo.
    let probe = people.join("S001-05-t10_01.jpg");
    cli::identify(cfg.clone(), std::slice::from_ref(&probe))
        .await
        .unwrap();
    let engine = Engine::load(&cfg.vision).unwrap();
    let gallery = store
        .load_gallery(engine.model_id(), cfg.vision.embedding_dim)
        .await
        .unwrap();
    let v = engine
        .encode_image(&std::fs::read(&probe).unwrap())
        .unwrap();
    let m = gallery.search(&v).unwrap().expect("a match");
    assert_eq!(&*m.subject_id, subject.id.as_str());
    assert!(
        m.similarity >= cfg.matching.threshold.max(0.6),
        "{}",
        m.similarity
    );
    // Templates of another embedder id are not in this model's gallery.
    assert!(store
        .load_gallery("other-model", cfg.vision.embedding_dim)
        .await
        .unwrap()
        .is_empty());
}
