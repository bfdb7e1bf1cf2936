//! A batch of records through the model, into results and errors lines.
//!
//! A results line is `{"instance": <instance>, "prediction": <outputs>, "explanation":
//! <Explanation>}` (`"key": <key>` in place of `"instance"` when `keyField` is set;
//! `explanation` only with explanations). An errors line is `{"instance": <instance>,
//! "error": {"code", "message"}}`, with `"key"` too when it is known (a Prism addition).
//! Codes: 3 INVALID_ARGUMENT for records that are not valid instances, 13 INTERNAL for
//! faults of the model.

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::batch::input::{InputFile, RawRecord};
use crate::batch::instance::{self, Prepared};
use crate::batch::{InputFormat, InstanceConfig, Status};
use crate::error::EngineError;
use crate::explainer::Explainer;
use crate::Explanation;

/// google.rpc.Code INVALID_ARGUMENT.
pub(crate) const INVALID_ARGUMENT: i32 = 3;
/// google.rpc.Code INTERNAL.
pub(crate) const INTERNAL: i32 = 13;

/// A line for the results or the errors file (without its newline).
pub(crate) enum OutLine {
    Result(Vec<u8>),
    Error(Vec<u8>),
}

/// What a batch needs to know besides its records.
pub(crate) struct BatchContext<'a> {
    pub(crate) explainer: &'a Explainer,
    pub(crate) generate_explanation: bool,
    pub(crate) format: InputFormat,
    pub(crate) config: &'a InstanceConfig,
    pub(crate) files: &'a [InputFile],
}

/// Makes a batch of records into output lines, in order, using every core: records
/// become instances in parallel, the explainer runs them as one batch, lines are
/// serialized in parallel.
pub(crate) fn process(cx: &BatchContext<'_>, batch: Vec<RawRecord>) -> Vec<OutLine> {
    let prepared: Vec<(Prepared, (usize, u64))> = batch
        .into_par_iter()
        .map(|record| {
            let at = (record.file, record.line);
            (
                instance::prepare(record, cx.format, cx.config, cx.files),
                at,
            )
        })
        .collect();
    let mut instances = Vec::with_capacity(prepared.len());
    let mut slots = Vec::with_capacity(prepared.len());
    for (p, at) in prepared {
        match p {
            Prepared::Ready { instance, key } => {
                instances.push(instance);
                slots.push(Slot::Run { key, at });
            }
            Prepared::Rejected {
                instance,
                key,
                message,
            } => slots.push(Slot::Rejected {
                instance,
                key,
                message,
            }),
        }
    }
    let predictions = cx.explainer.predict_batch(&instances);
    let mut explanations: Vec<Option<Result<Explanation, EngineError>>> = if cx.generate_explanation
    {
        cx.explainer
            .explain_batch(&instances)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        Vec::new()
    };
    explanations.resize_with(instances.len(), || None);
    let mut ran = instances.into_iter().zip(predictions).zip(explanations);
    let work: Vec<Work<'_>> = slots
        .into_iter()
        .filter_map(|slot| match slot {
            Slot::Run { key, at } => {
                ran.next()
                    .map(|((instance, prediction), explanation)| Work::Ran {
                        instance,
                        key,
                        prediction,
                        explanation,
                        place: place(cx.files, at),
                    })
            }
            Slot::Rejected {
                instance,
                key,
                message,
            } => Some(Work::Rejected {
                instance,
                key,
                message,
            }),
        })
        .collect();
    work.into_par_iter().map(Work::into_line).collect()
}

/// A record's place in a batch while the model runs.
enum Slot {
    /// Sent to the model; `at` is the record's file index and line.
    Run {
        key: Option<Value>,
        at: (usize, u64),
    },
    /// Not a valid instance.
    Rejected {
        instance: Value,
        key: Option<Value>,
        message: String,
    },
}

/// A record with everything known about it.
enum Work<'a> {
    Ran {
        instance: Value,
        key: Option<Value>,
        prediction: Result<Value, EngineError>,
        explanation: Option<Result<Explanation, EngineError>>,
        place: Place<'a>,
    },
    Rejected {
        instance: Value,
        key: Option<Value>,
        message: String,
    },
}

#[derive(Serialize)]
struct ResultLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a Value>,
    prediction: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a Explanation>,
}

#[derive(Serialize)]
struct ErrorLine<'a> {
    instance: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a Value>,
    error: &'a Status,
}

impl Work<'_> {
    fn into_line(self) -> OutLine {
        let (instance, key, status) = match self {
            Work::Rejected {
                instance,
                key,
                message,
            } => (
                instance,
                key,
                Status {
                    code: INVALID_ARGUMENT,
                    message,
                },
            ),
            Work::Ran {
                instance,
                key,
                prediction,
                explanation,
                place,
            } => match (prediction, explanation) {
                (Ok(prediction), explanation @ (None | Some(Ok(_)))) => {
                    let explanation = explanation.and_then(Result::ok);
                    let line = ResultLine {
                        instance: key.is_none().then_some(&instance),
                        key: key.as_ref(),
                        prediction: &prediction,
                        explanation: explanation.as_ref(),
                    };
                    match serde_json::to_vec(&line) {
                        Ok(bytes) => return OutLine::Result(bytes),
                        Err(e) => (
                            instance,
                            key,
                            Status {
                                code: INTERNAL,
                                message: format!("{place}: the result is not JSON: {e}"),
                            },
                        ),
                    }
                }
                (Err(e), _) | (Ok(_), Some(Err(e))) => (instance, key, status_of(&e, &place)),
            },
        };
        let line = ErrorLine {
            instance: &instance,
            key: key.as_ref(),
            error: &status,
        };
        // JSON values and strings only: serializing cannot fail.
        OutLine::Error(serde_json::to_vec(&line).unwrap_or_default())
    }
}

/// The status of an instance the explainer failed on: INVALID_ARGUMENT for bad
/// instances, INTERNAL for faults of the model.
fn status_of(e: &EngineError, place: &Place<'_>) -> Status {
    Status {
        code: if e.is_invalid_input() {
            INVALID_ARGUMENT
        } else {
            INTERNAL
        },
        message: format!("{place}: {e}"),
    }
}

/// A record's file and line, shown in error messages as `path line N`.
struct Place<'a> {
    file: Option<&'a Path>,
    line: u64,
}

fn place(files: &[InputFile], (file, line): (usize, u64)) -> Place<'_> {
    Place {
        file: files.get(file).map(|f| f.path.as_path()),
        line,
    }
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.file {
            Some(path) => write!(f, "{} line {}", path.display(), self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}
