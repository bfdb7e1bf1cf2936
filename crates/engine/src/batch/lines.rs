//! A batch of records through the model, into results and errors lines.
//!
//! A results line is `{"instance": <instance>, "prediction": <outputs>, "explanation":
//! <Explanation>}` (`"key": <key>` in place of `"instance"` when `keyField` is set;
//! `explanation` only with explanations). An errors line is `{"instance": <instance>,
//! "error": {"code", "message"}}`, with `"key"` too when it is known (a Prism addition).
//! Codes: 3 INVALID_ARGUMENT for records that are not valid instances, 13 INTERNAL for
//! faults of the model.

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
    /// A record's results line.
    Result(Vec<u8>),
    /// A record's errors line.
    Error(Vec<u8>),
    /// A line of the results file that is no record's: the header of CSV results.
    Header(Vec<u8>),
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
    let prepared: Vec<(Prepared, Place<'_>)> = batch
        .into_par_iter()
        .map(|record| {
            let at = place(cx.files, cx.format, (record.file, record.line));
            (
                instance::prepare(record, cx.format, cx.config, cx.files),
                at,
            )
        })
        .collect();
    run(cx.explainer, cx.generate_explanation, prepared)
        .into_par_iter()
        .map(|work| work.into_outcome().into_line())
        .collect()
}

/// A record handed over as a value rather than read from a file (a row of a Ray Dataset
/// or a Spark DataFrame); [`process_records`] makes it into the line `prism batch` would
/// write for the same instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// JSON text, read as a JSONL line is: invalid JSON makes an errors line.
    Text(Vec<u8>),
    /// An instance as a JSON value.
    Value(Value),
    /// A record that could not be read: it makes an errors line with code 3
    /// (INVALID_ARGUMENT), this message, this `instance` and this `key`.
    Invalid {
        /// The record as far as it could be read.
        instance: Value,
        /// The value of the key field, when it is known.
        key: Option<Value>,
        /// Why it is not an instance.
        message: String,
    },
}

/// What became of a [`Record`]: its results or errors line, and the line's parts as JSON
/// text (each exactly as it stands in the line).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLine {
    /// The results or errors line as `prism batch` writes it, without its newline.
    pub line: Vec<u8>,
    /// Why the record failed; `None` for a results line.
    pub error: Option<Status>,
    /// The instance; on a results line only when there is no key (as in the line).
    pub instance: Option<String>,
    /// The value of the key field, when `keyField` is set and the key was found.
    pub key: Option<String>,
    /// The model's outputs (results lines only).
    pub prediction: Option<String>,
    /// The explanation (results lines of jobs with explanations only).
    pub explanation: Option<String>,
}

/// Makes records handed over as values into results and errors lines, in order, exactly
/// as a batch job makes the same instances read from a file (the same instance config,
/// the same engine calls, the same JSON): the surface of the Ray and Spark adapters. Each
/// record comes with its place (`"partition 3 row 17"`), which prefixes its error
/// message when given. Runs the instances as one batch, in parallel.
pub fn process_records(
    explainer: &Explainer,
    generate_explanation: bool,
    config: &InstanceConfig,
    records: Vec<(Record, Option<String>)>,
) -> Vec<RecordLine> {
    let prepared: Vec<(Prepared, Place<'_>)> = records
        .into_par_iter()
        .map(|(record, at)| {
            let prepared = match record {
                Record::Text(text) => instance::prepare_json(&text, config),
                Record::Value(value) => instance::apply_config(value, config),
                Record::Invalid {
                    instance,
                    key,
                    message,
                } => Prepared::Rejected {
                    instance,
                    key,
                    message,
                },
            };
            let prepared = match (prepared, &at) {
                (
                    Prepared::Rejected {
                        instance,
                        key,
                        message,
                    },
                    Some(at),
                ) => Prepared::Rejected {
                    instance,
                    key,
                    message: format!("{at}: {message}"),
                },
                (prepared, _) => prepared,
            };
            (prepared, Place::Named(at))
        })
        .collect();
    run(explainer, generate_explanation, prepared)
        .into_par_iter()
        .map(|work| work.into_outcome().into_record_line())
        .collect()
}

/// An instance's prediction and, when asked for, its explanation.
type Ran = (
    Result<Value, EngineError>,
    Option<Result<Explanation, EngineError>>,
);

/// Runs the prepared records' instances through the explainer as one batch.
fn run<'a>(
    explainer: &Explainer,
    generate_explanation: bool,
    prepared: Vec<(Prepared, Place<'a>)>,
) -> Vec<Work<'a>> {
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
    // Explained instances are predicted from the explanation's own forward pass where
    // the method allows (see `Explainer::explain_and_predict`); an instance that cannot
    // be explained still gets its prediction, or the prediction's own error.
    let results: Vec<Ran> = if generate_explanation {
        instances
            .par_iter()
            .map(|instance| match explainer.explain_and_predict(instance) {
                Ok((explanation, prediction)) => (Ok(prediction), Some(Ok(explanation))),
                Err(e) => (explainer.predict(instance), Some(Err(e))),
            })
            .collect()
    } else {
        explainer
            .predict_batch(&instances)
            .into_iter()
            .map(|prediction| (prediction, None))
            .collect()
    };
    let mut ran = instances.into_iter().zip(results);
    slots
        .into_iter()
        .filter_map(|slot| match slot {
            Slot::Run { key, at } => {
                ran.next()
                    .map(|(instance, (prediction, explanation))| Work::Ran {
                        instance,
                        key,
                        prediction,
                        explanation,
                        place: at,
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
        .collect()
}

/// A record's place in a batch while the model runs.
enum Slot<'a> {
    /// Sent to the model; `at` is the record's place in the input.
    Run { key: Option<Value>, at: Place<'a> },
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

/// A record's line, before it is serialized.
enum Outcome<'a> {
    Result {
        instance: Value,
        key: Option<Value>,
        prediction: Value,
        explanation: Option<Explanation>,
        place: Place<'a>,
    },
    Error {
        instance: Value,
        key: Option<Value>,
        status: Status,
    },
}

impl<'a> Work<'a> {
    fn into_outcome(self) -> Outcome<'a> {
        match self {
            Work::Rejected {
                instance,
                key,
                message,
            } => Outcome::Error {
                instance,
                key,
                status: Status {
                    code: INVALID_ARGUMENT,
                    message,
                },
            },
            Work::Ran {
                instance,
                key,
                prediction,
                explanation,
                place,
            } => match (prediction, explanation) {
                (Ok(prediction), explanation @ (None | Some(Ok(_)))) => Outcome::Result {
                    instance,
                    key,
                    prediction,
                    explanation: explanation.and_then(Result::ok),
                    place,
                },
                (Err(e), _) | (Ok(_), Some(Err(e))) => Outcome::Error {
                    status: status_of(&e, &place),
                    instance,
                    key,
                },
            },
        }
    }
}

impl Outcome<'_> {
    /// The results line, or the errors line of a record that failed or whose result
    /// cannot be written as JSON.
    fn into_line(self) -> OutLine {
        self.write().0
    }

    /// The line, with the status of an errors line.
    fn write(self) -> (OutLine, Option<Status>) {
        let (instance, key, status) = match self {
            Outcome::Error {
                instance,
                key,
                status,
            } => (instance, key, status),
            Outcome::Result {
                instance,
                key,
                prediction,
                explanation,
                place,
            } => {
                let line = ResultLine {
                    instance: key.is_none().then_some(&instance),
                    key: key.as_ref(),
                    prediction: &prediction,
                    explanation: explanation.as_ref(),
                };
                match serde_json::to_vec(&line) {
                    Ok(bytes) => return (OutLine::Result(bytes), None),
                    Err(e) => (
                        instance,
                        key,
                        Status {
                            code: INTERNAL,
                            message: at(&place.to_string(), format!("the result is not JSON: {e}")),
                        },
                    ),
                }
            }
        };
        let line = ErrorLine {
            instance: &instance,
            key: key.as_ref(),
            error: &status,
        };
        // JSON values and strings only: serializing cannot fail.
        let bytes = serde_json::to_vec(&line).unwrap_or_default();
        (OutLine::Error(bytes), Some(status))
    }

    /// The line and its parts, each part serialized as it stands in the line.
    fn into_record_line(self) -> RecordLine {
        let text = |v: &Value| serde_json::to_string(v).unwrap_or_default();
        let (instance, key, prediction, explanation) = match &self {
            Outcome::Result {
                instance,
                key,
                prediction,
                explanation,
                ..
            } => (
                text(instance),
                key.as_ref().map(text),
                Some(text(prediction)),
                // An explanation that cannot be serialized makes an errors line below.
                explanation
                    .as_ref()
                    .and_then(|e| serde_json::to_string(e).ok()),
            ),
            Outcome::Error { instance, key, .. } => {
                (text(instance), key.as_ref().map(text), None, None)
            }
        };
        match self.write() {
            (OutLine::Result(line), _) => RecordLine {
                instance: key.is_none().then_some(instance),
                line,
                error: None,
                key,
                prediction,
                explanation,
            },
            (OutLine::Error(line) | OutLine::Header(line), status) => RecordLine {
                line,
                error: status,
                instance: Some(instance),
                key,
                prediction: None,
                explanation: None,
            },
        }
    }
}

/// A message prefixed with a record's place, when it has one.
fn at(place: &str, message: String) -> String {
    if place.is_empty() {
        message
    } else {
        format!("{place}: {message}")
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
        message: at(&place.to_string(), e.to_string()),
    }
}

/// A record's place, shown in error messages: `path line N` for a file's records, the
/// caller's words for records handed over as values (nothing when it gave none).
enum Place<'a> {
    File {
        file: Option<&'a InputFile>,
        /// `line`, or `row` for Parquet.
        unit: &'static str,
        line: u64,
    },
    Named(Option<String>),
}

fn place(files: &[InputFile], format: InputFormat, (file, line): (usize, u64)) -> Place<'_> {
    Place::File {
        file: files.get(file),
        unit: instance::line_unit(format),
        line,
    }
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::File {
                file: Some(input),
                unit,
                line,
            } => write!(f, "{} {unit} {line}", input.name()),
            Place::File {
                file: None,
                unit,
                line,
            } => write!(f, "{unit} {line}"),
            Place::Named(Some(name)) => f.write_str(name),
            Place::Named(None) => Ok(()),
        }
    }
}
