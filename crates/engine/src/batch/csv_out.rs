//! CSV results (Vertex `predictionsFormat: "csv"`): the results file becomes a CSV table.
//!
//! The first results line of a shard fixes the header: `key` when `keyField` is set, else
//! the instance's columns (an object's field names; `instance_0`, `instance_1`, … for an
//! array; `instance` for anything else), then the prediction's columns
//! (`predicted_<output>` for each field of an object prediction, else `prediction`).
//! Cells that are strings or numbers are written as they are, null as an empty cell, and
//! anything else (arrays, objects) as JSON text. A later result whose columns differ from
//! the header goes to the errors file (code 3) instead. The errors file stays JSON lines.
//! CSV results cannot hold explanations, as in Vertex.

use serde_json::{Map, Value};

use crate::batch::lines::{OutLine, INVALID_ARGUMENT};
use crate::batch::Status;

/// Makes a batch's JSON results lines into CSV rows, in order: the header first when the
/// shard has none yet (`header` is set then), a result that does not fit the header into
/// an errors line.
pub(crate) fn convert(lines: Vec<OutLine>, header: &mut Option<Vec<String>>) -> Vec<OutLine> {
    let mut out = Vec::with_capacity(lines.len() + 1);
    for line in lines {
        let OutLine::Result(json) = line else {
            out.push(line);
            continue;
        };
        let Ok(Value::Object(result)) = serde_json::from_slice::<Value>(&json) else {
            // Results lines are objects written by this crate.
            out.push(OutLine::Result(json));
            continue;
        };
        let (columns, cells) = columns_and_cells(&result);
        match header {
            None => {
                out.push(OutLine::Header(row(&columns)));
                *header = Some(columns);
                out.push(OutLine::Result(row(&cells)));
            }
            Some(h) if *h == columns => out.push(OutLine::Result(row(&cells))),
            Some(h) => out.push(mismatch(result, &columns, h)),
        }
    }
    out
}

/// A result's column names and cells.
fn columns_and_cells(result: &Map<String, Value>) -> (Vec<String>, Vec<String>) {
    let mut columns = Vec::new();
    let mut cells = Vec::new();
    if let Some(key) = result.get("key") {
        columns.push("key".to_string());
        cells.push(cell(key));
    } else {
        match result.get("instance") {
            Some(Value::Object(o)) => {
                for (k, v) in o {
                    columns.push(k.clone());
                    cells.push(cell(v));
                }
            }
            Some(Value::Array(a)) => {
                for (i, v) in a.iter().enumerate() {
                    columns.push(format!("instance_{i}"));
                    cells.push(cell(v));
                }
            }
            Some(other) => {
                columns.push("instance".into());
                cells.push(cell(other));
            }
            None => {}
        }
    }
    match result.get("prediction") {
        Some(Value::Object(o)) => {
            for (k, v) in o {
                columns.push(format!("predicted_{k}"));
                cells.push(cell(v));
            }
        }
        Some(other) => {
            columns.push("prediction".into());
            cells.push(cell(other));
        }
        None => {}
    }
    (columns, cells)
}

/// A cell: strings and numbers as they are, null empty, the rest as JSON text.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// One CSV record, without its line ending (the writer adds `\n`).
fn row(fields: &[String]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(fields);
    let mut bytes = writer.into_inner().unwrap_or_default();
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}

/// The errors line of a result whose columns are not the header's.
fn mismatch(result: Map<String, Value>, columns: &[String], header: &[String]) -> OutLine {
    let mut line = Map::new();
    line.insert(
        "instance".into(),
        result.get("instance").cloned().unwrap_or(Value::Null),
    );
    if let Some(key) = result.get("key") {
        line.insert("key".into(), key.clone());
    }
    let status = Status {
        code: INVALID_ARGUMENT,
        message: format!(
            "the result's CSV columns ({}) are not the header's ({}); use jsonl output for \
             instances of different shapes",
            columns.join(","),
            header.join(",")
        ),
    };
    line.insert(
        "error".into(),
        serde_json::to_value(&status).unwrap_or(Value::Null),
    );
    OutLine::Error(serde_json::to_vec(&Value::Object(line)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(line: &OutLine) -> (char, String) {
        match line {
            OutLine::Header(b) => ('h', String::from_utf8(b.clone()).unwrap()),
            OutLine::Result(b) => ('r', String::from_utf8(b.clone()).unwrap()),
            OutLine::Error(b) => ('e', String::from_utf8(b.clone()).unwrap()),
        }
    }

    fn result(v: Value) -> OutLine {
        OutLine::Result(serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn the_first_result_fixes_the_header_and_others_must_fit() {
        let mut header = None;
        let lines = vec![
            result(
                json!({"instance": {"a": 1, "b": "x, y"}, "prediction": {"y": [2.5], "label": "cat"}}),
            ),
            OutLine::Error(b"{\"error\":1}".to_vec()),
            result(
                json!({"instance": {"a": null, "b": "q\"r"}, "prediction": {"y": [3], "label": "dog"}}),
            ),
            result(json!({"instance": {"a": 1}, "prediction": {"y": [1], "label": "x"}})),
        ];
        let out: Vec<(char, String)> = convert(lines, &mut header).iter().map(text).collect();
        assert_eq!(out[0], ('h', "a,b,predicted_y,predicted_label".into()));
        assert_eq!(out[1], ('r', "1,\"x, y\",[2.5],cat".into()));
        assert_eq!(out[2], ('e', "{\"error\":1}".into()));
        assert_eq!(out[3], ('r', ",\"q\"\"r\",[3],dog".into()));
        assert_eq!(out[4].0, 'e');
        let error: Value = serde_json::from_str(&out[4].1).unwrap();
        assert_eq!(error["error"]["code"], json!(3));
        assert!(error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(a,predicted_y,predicted_label) are not the header's"));
        // The next batch of the shard has its header already.
        let out = convert(
            vec![result(
                json!({"instance": {"a": 5, "b": ""}, "prediction": {"y": [0], "label": "z"}}),
            )],
            &mut header,
        );
        assert_eq!(
            out.iter().map(text).collect::<Vec<_>>(),
            [('r', "5,,[0],z".to_string())]
        );
    }

    #[test]
    fn keys_and_arrays_name_their_columns() {
        let mut header = None;
        let out = convert(
            vec![result(json!({"key": "r1", "prediction": 0.5}))],
            &mut header,
        );
        assert_eq!(
            out.iter().map(text).collect::<Vec<_>>(),
            [
                ('h', "key,prediction".to_string()),
                ('r', "r1,0.5".to_string())
            ]
        );
        let mut header = None;
        let out = convert(
            vec![result(
                json!({"instance": [1, 2], "prediction": [0.1, 0.9]}),
            )],
            &mut header,
        );
        assert_eq!(text(&out[0]).1, "instance_0,instance_1,prediction");
        assert_eq!(text(&out[1]).1, "1,2,\"[0.1,0.9]\"");
    }
}
