//! Which runtime runs a model's general ONNX graphs.

use crate::error::{ModelError, Result};

/// The runtime that runs general (neural network) ONNX graphs. Graphs of ONNX-ML tree
/// ensembles always run on Prism's own evaluator, whatever the backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// tract, built in (the default).
    #[default]
    Tract,
    /// ONNX Runtime, with the cargo feature `ort`: the library is loaded at run time from the
    /// file `ORT_DYLIB_PATH` names (the `libonnxruntime.so*` of the PyPI `onnxruntime` wheel,
    /// in `onnxruntime/capi/`), else from the loader's search path.
    Ort,
}

impl Backend {
    /// Every backend, compiled in or not.
    pub const ALL: [Backend; 2] = [Backend::Tract, Backend::Ort];

    /// The backend's name, as `--backend` and `PRISM_BACKEND` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Tract => "tract",
            Backend::Ort => "ort",
        }
    }

    /// Whether this build of Prism includes the backend (ONNX Runtime needs the cargo
    /// feature `ort`).
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Tract => true,
            Backend::Ort => crate::ort_backend::COMPILED,
        }
    }

    /// Checks that models can run on this backend now: it is compiled in and, for ONNX
    /// Runtime, the library loads. Otherwise [`ModelError::BackendUnavailable`] says why.
    pub fn ensure_available(self) -> Result<()> {
        match self {
            Backend::Tract => Ok(()),
            Backend::Ort => crate::ort_backend::ensure_available(),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = ModelError;

    /// Parses `tract` or `ort` (any case).
    fn from_str(s: &str) -> Result<Self> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ModelError::UnknownBackend(s.to_string()))
    }
}
