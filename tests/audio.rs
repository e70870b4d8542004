//! Spoken prompts through real ALSA: `aplay` plays the shipped prompt files into ALSA's `file`
//! plugin (over the `null` PCM), defined in a private `~/.asoundrc`, and the test compares
//! what ALSA received with the recording's samples.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wardgate::audio::{speak_prompts, AudioConfig, Cue, Speaker};
use wardgate::liveness::Direction;
use wardgate::presentation::{DoorPrompt, PromptBoard};

/// The PCM samples of a WAV file (its `data` chunk).
fn samples(wav: &Path) -> Vec<u8> {
    let b = std::fs::read(wav).unwrap();
    assert_eq!(&b[..4], b"RIFF", "{}", wav.display());
    let mut i = 12;
    while i + 8 <= b.len() {
        let len = u32::from_le_bytes(b[i + 4..i + 8].try_into().unwrap()) as usize;
        if &b[i..i + 4] == b"data" {
            return b[i + 8..(i + 8 + len).min(b.len())].to_vec();
        }
        i += 8 + len + (len & 1);
    }
    panic!("no data chunk in {}", wav.display());
}

fn prompts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/prompts")
}

/// Points ALSA (through `$HOME/.asoundrc`) at a PCM `wardgate_test` that writes what it plays
/// to the returned file. This test binary holds one test, so changing `HOME` is safe.
fn capture_pcm(dir: &Path) -> PathBuf {
    let out = dir.join("played.raw");
    std::fs::write(
        dir.join(".asoundrc"),
        format!(
            "pcm.wardgate_test {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n}}\n",
            out.display()
        ),
    )
    .unwrap();
    std::env::set_var("HOME", dir);
    out
}

fn wait_for_len(path: &Path, len: usize) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = std::fs::read(path).unwrap_or_default();
        if got.len() >= len || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What ALSA received is exactly `cue`'s samples, then the silence aplay pads the last
/// period with.
fn assert_played(got: &[u8], cue: Cue) {
    let want = samples(&prompts_dir().join(cue.file()));
    assert!(
        got.len() >= want.len(),
        "{} of {} bytes of {}",
        got.len(),
        want.len(),
        cue.file()
    );
    assert!(
        got[..want.len()] == want[..],
        "other samples than {}",
        cue.file()
    );
    assert!(
        got[want.len()..].iter().all(|&b| b == 0),
        "padding is silence"
    );
}

#[test]
fn the_door_says_its_prompts_through_alsa() {
    let dir = tempfile::tempdir().unwrap();
    let out = capture_pcm(dir.path());
    let cfg = AudioConfig {
        enabled: true,
        device: "wardgate_test".into(),
        prompts_dir: prompts_dir(),
        ..AudioConfig::default()
    };
    assert!(cfg.missing().is_empty());

    // 1. One cue, played to its end.
    let mut speaker = Speaker::new(cfg.clone());
    speaker.say(Cue::Welcome);
    let status = speaker.wait().unwrap().expect("aplay started");
    assert!(status.success(), "aplay failed: {status}");
    assert_played(&std::fs::read(&out).unwrap(), Cue::Welcome);

    // 2. Through the prompt board, as the door loop announces a challenge step.
    std::fs::remove_file(&out).unwrap();
    let board = PromptBoard::new();
    let rx = board.subscribe();
    let thread = std::thread::spawn(move || speak_prompts(cfg, rx));
    board.announce(DoorPrompt::Challenge {
        step: 1,
        of: 2,
        direction: Direction::Left,
    });
    let cue = Cue::Turn(Direction::Left);
    let want = samples(&prompts_dir().join(cue.file()));
    assert_played(&wait_for_len(&out, want.len()), cue);
    drop(board);
    thread.join().unwrap();
}
