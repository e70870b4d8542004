//! The LiteRT runtime: the only module that talks to the inference library.
//!
//! A [`Model`] is one `.tflite` file compiled for the CPU (XNNPACK) with its input and output
//! buffers allocated once, so a run costs one copy in, the invoke, and one copy out. Before a
//! file is handed to the runtime its sha256 is checked against `models/SHA256SUMS`: a model is
//! a security-relevant artefact at a door (a swapped embedder silently changes who gets in).
//!
//! The `litert` crate wraps the C API; every call through it is safe Rust here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context as _};
use litert::{CompilationOptions, CompiledModel, Environment, TensorBuffer};
use sha2::{Digest, Sha256};

/// The manifest of expected model hashes, in `sha256sum` format, inside the model directory.
pub const MANIFEST: &str = "SHA256SUMS";

/// Runs `f` with LiteRT's INFO chatter filtered out: warnings and errors still reach the log.
///
/// Why this detour: libLiteRt.so 2.1.4 from the wheel does not export the logger-control
/// symbols (`LiteRtSetMinLoggerSeverity`), so the crate's `set_global_log_severity` cannot work
/// with it, and the library writes a dozen INFO lines to stderr per model load and unload.
/// Loading is rare (start-up), so stderr is pointed at a pipe for its duration, and what the
/// library wrote is sorted into `log::debug!` (INFO) and `log::warn!` (everything else).
fn quiet_stderr<T>(f: impl FnOnce() -> T) -> T {
    use std::io::Read as _;
    use std::os::fd::AsRawFd as _;
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let stderr = std::io::stderr();
    let fd = stderr.as_raw_fd();
    let redirected = (|| -> nix::Result<_> {
        let (rd, wr) = nix::unistd::pipe()?;
        // Never block the library on a full pipe: lose lines rather than hang.
        nix::fcntl::fcntl(
            wr.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )?;
        let saved = nix::unistd::dup(fd)?;
        nix::unistd::dup2(wr.as_raw_fd(), fd)?;
        Ok((rd, wr, saved))
    })();
    let out = f();
    if let Ok((rd, wr, saved)) = redirected {
        let _ = nix::unistd::dup2(saved, fd);
        let _ = nix::unistd::close(saved);
        drop(wr);
        let mut text = String::new();
        let _ = std::fs::File::from(rd).read_to_string(&mut text);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if line.starts_with("INFO") || line.contains("accelerator could not be loaded") {
                log::debug!("litert: {line}");
            } else {
                log::warn!("litert: {line}");
            }
        }
    }
    out
}

/// Reads `SHA256SUMS` of a model directory into file name → hex digest.
pub fn read_manifest(model_dir: &Path) -> anyhow::Result<HashMap<String, String>> {
    let path = model_dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading model manifest {}", path.display()))?;
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (hash, name) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| anyhow!("{}:{}: expected `<sha256>  <file>`", path.display(), n + 1))?;
        let name = name.trim().trim_start_matches('*');
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{}:{}: not a sha256 digest: {hash}", path.display(), n + 1);
        }
        out.insert(name.to_owned(), hash.to_ascii_lowercase());
    }
    Ok(out)
}

/// Reads a model file and checks it against the manifest of its directory.
pub fn read_verified(path: &Path) -> anyhow::Result<Vec<u8>> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("model path {} has no file name", path.display()))?;
    let manifest = read_manifest(dir)?;
    let expected = manifest.get(name).ok_or_else(|| {
        anyhow!(
            "model {name} is not listed in {}",
            dir.join(MANIFEST).display()
        )
    })?;
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "reading model {} (run models/fetch-models.sh to restore it)",
            path.display()
        )
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if &actual != expected {
        bail!(
            "model {} has sha256 {actual}, the manifest expects {expected}; refusing to load it",
            path.display()
        );
    }
    Ok(bytes)
}

/// One compiled model with its own input and output buffers.
///
/// Not `Sync`: a run mutates the buffers. Callers share it behind a `Mutex` (see
/// `vision::Engine`).
pub struct Model {
    name: String,
    /// `Option` only so that `Drop` can unload it with the library's chatter filtered.
    compiled: Option<CompiledModel>,
    inputs: Vec<TensorBuffer>,
    outputs: Vec<TensorBuffer>,
    input_shapes: Vec<Vec<usize>>,
    output_shapes: Vec<Vec<usize>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("inputs", &self.input_shapes)
            .field("outputs", &self.output_shapes)
            .finish_non_exhaustive()
    }
}

fn dims(shape: &litert::TensorShape) -> Vec<usize> {
    shape
        .dims
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .collect()
}

impl Model {
    /// Loads `path` after checking its sha256 against the manifest next to it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = read_verified(path)?;
        quiet_stderr(|| Self::compile(path, bytes))
    }

    fn compile(path: &Path, bytes: Vec<u8>) -> anyhow::Result<Self> {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or("model")
            .to_owned();
        let err = |what: &str, e: litert::Error| anyhow!("{name}: {what}: {e}");
        let env = Environment::new().map_err(|e| err("creating the LiteRT environment", e))?;
        let model = litert::Model::from_bytes(bytes).map_err(|e| err("parsing the model", e))?;
        let signature = model
            .signature(0)
            .map_err(|e| err("reading its signature", e))?;
        let mut inputs = Vec::new();
        let mut input_shapes = Vec::new();
        for i in 0..signature.input_count().map_err(|e| err("inputs", e))? {
            let shape = signature
                .input_shape(i)
                .map_err(|e| err("input shape", e))?;
            if shape.element_type != litert::ElementType::Float32 {
                bail!(
                    "{name}: input {i} is {:?}, only float32 models are supported",
                    shape.element_type
                );
            }
            input_shapes.push(dims(&shape));
            inputs.push(
                TensorBuffer::managed_host(&env, &shape).map_err(|e| err("input buffer", e))?,
            );
        }
        let mut outputs = Vec::new();
        let mut output_shapes = Vec::new();
        for i in 0..signature.output_count().map_err(|e| err("outputs", e))? {
            let shape = signature
                .output_shape(i)
                .map_err(|e| err("output shape", e))?;
            output_shapes.push(dims(&shape));
            outputs.push(
                TensorBuffer::managed_host(&env, &shape).map_err(|e| err("output buffer", e))?,
            );
        }
        let options = CompilationOptions::new().map_err(|e| err("compilation options", e))?;
        let compiled = CompiledModel::new(env, model, &options).map_err(|e| err("compiling", e))?;
        Ok(Self {
            name,
            compiled: Some(compiled),
            inputs,
            outputs,
            input_shapes,
            output_shapes,
        })
    }

    /// The file stem, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Shapes of the inputs, in signature order (e.g. `[[1, 128, 128, 3]]`).
    pub fn input_shapes(&self) -> &[Vec<usize>] {
        &self.input_shapes
    }

    /// Shapes of the outputs, in signature order.
    pub fn output_shapes(&self) -> &[Vec<usize>] {
        &self.output_shapes
    }

    /// Checks that the model has the input shape the caller's pre-processing produces, so a
    /// wrong file fails at load time with a clear message instead of garbage at run time.
    pub fn expect_input(&self, index: usize, shape: &[usize]) -> anyhow::Result<()> {
        match self.input_shapes.get(index) {
            Some(s) if s == shape => Ok(()),
            Some(s) => bail!(
                "{}: input {index} has shape {s:?}, expected {shape:?}",
                self.name
            ),
            None => bail!("{}: has no input {index}", self.name),
        }
    }

    /// As [`Self::expect_input`] for output `index`.
    pub fn expect_output(&self, index: usize, shape: &[usize]) -> anyhow::Result<()> {
        match self.output_shapes.get(index) {
            Some(s) if s == shape => Ok(()),
            Some(s) => bail!(
                "{}: output {index} has shape {s:?}, expected {shape:?}",
                self.name
            ),
            None => bail!("{}: has no output {index}", self.name),
        }
    }

    /// Copies `inputs` into the input buffers, invokes, and copies every output out.
    pub fn run(&mut self, inputs: &[&[f32]]) -> anyhow::Result<Vec<Vec<f32>>> {
        if inputs.len() != self.inputs.len() {
            bail!(
                "{}: {} inputs given, model has {}",
                self.name,
                inputs.len(),
                self.inputs.len()
            );
        }
        for (i, (buf, data)) in self.inputs.iter_mut().zip(inputs).enumerate() {
            let want: usize = self.input_shapes[i].iter().product();
            if data.len() != want {
                bail!(
                    "{}: input {i} has {} values, expected {want}",
                    self.name,
                    data.len()
                );
            }
            let mut guard = buf
                .lock_for_write::<f32>()
                .map_err(|e| anyhow!("{}: locking input {i}: {e}", self.name))?;
            guard.copy_from_slice(data);
        }
        let compiled = self
            .compiled
            .as_ref()
            .ok_or_else(|| anyhow!("{}: unloaded", self.name))?;
        compiled
            .run(&mut self.inputs, &mut self.outputs)
            .map_err(|e| anyhow!("{}: invoke failed: {e}", self.name))?;
        let mut out = Vec::with_capacity(self.outputs.len());
        for (i, buf) in self.outputs.iter().enumerate() {
            let guard = buf
                .lock_for_read::<f32>()
                .map_err(|e| anyhow!("{}: locking output {i}: {e}", self.name))?;
            out.push(guard.to_vec());
        }
        Ok(out)
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        if let Some(compiled) = self.compiled.take() {
            quiet_stderr(move || drop(compiled));
        }
    }
}

/// Resolves a model file name against the configured model directory.
pub fn model_path(model_dir: &Path, file: &str) -> PathBuf {
    model_dir.join(file)
}
