//! End-to-end tests of `prism batch` on the real binary: output naming and line formats,
//! bad lines, the failure ratio, CSV keys, file lists, exactly-once under `kill -9`,
//! cancelling with SIGINT, flat memory over a million lines, shards and merge-stats.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::job_lines::{breast_cancer_lines, id_counts, json_lines, line_id};
use serde_json::{json, Value};

fn prism() -> Command {
    Command::new(env!("CARGO_BIN_EXE_prism"))
}

fn model_dir(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/models")
        .join(name)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> Output {
    prism().args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn shard_file(job: &Path, prefix: &str, index: u32, count: u32) -> PathBuf {
    job.join(format!("{prefix}-{index:05}-of-{count:05}"))
}

fn results(job: &Path) -> PathBuf {
    shard_file(job, "prediction.results", 0, 1)
}

fn errors(job: &Path) -> PathBuf {
    shard_file(job, "prediction.errors_stats", 0, 1)
}

fn stats(job: &Path) -> Value {
    read_json(&job.join("stats-00000-of-00001.json"))
}

/// (successful, failed, incomplete) of a stats document.
fn counts(stats: &Value) -> (i64, i64, i64) {
    let c = &stats["completionStats"];
    let n = |k: &str| c[k].as_str().unwrap().parse::<i64>().unwrap();
    (n("successfulCount"), n("failedCount"), n("incompleteCount"))
}

/// A small seeded generator for kill points.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Records committed by a job's checkpoint (0 when there is none yet).
fn committed(job: &Path) -> u64 {
    match std::fs::read_to_string(job.join("checkpoint-00000-of-00001.json")) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text).unwrap();
            v["successful"].as_u64().unwrap() + v["failed"].as_u64().unwrap()
        }
        Err(_) => 0,
    }
}

/// Waits until the job commits at least `target` records or the child exits; false when
/// it exited.
fn wait_for_progress(child: &mut Child, job: &Path, target: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if committed(job) >= target {
            return true;
        }
        assert!(Instant::now() < deadline, "no progress to {target}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// What [`kill_at_random_points`] saw.
struct Kills {
    /// Kills that landed while the job ran, after some progress and before its end.
    mid_job: usize,
    /// Kills that left results written past the last checkpoint.
    with_uncommitted_output: usize,
}

/// Starts the job `killed` (`args("killed")`, writing to `job`) `rounds` times and SIGKILLs
/// each run at a random point: once it has committed up to `max_step` more records, then
/// anywhere within 20 ms (explaining, writing, syncing, checkpointing). With `early_first`
/// the first run is killed within 80 ms of its start instead (loading the model, the first
/// batches).
fn kill_at_random_points(
    args: &dyn Fn(&str) -> Vec<String>,
    job: &Path,
    n: usize,
    rounds: usize,
    max_step: u64,
    rng: &mut Rng,
    early_first: bool,
) -> Kills {
    let mut kills = Kills {
        mid_job: 0,
        with_uncommitted_output: 0,
    };
    for round in 0..rounds {
        let before = committed(job);
        let mut child = prism()
            .args(args("killed"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let running = if round == 0 && early_first {
            std::thread::sleep(Duration::from_millis(rng.below(80)));
            true
        } else {
            let running = wait_for_progress(&mut child, job, before + 1 + rng.below(max_step));
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
            running
        };
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let after = committed(job);
        if running && after > before && after < n as u64 {
            kills.mid_job += 1;
        }
        let results_len = std::fs::metadata(results(job)).map_or(0, |m| m.len());
        let checkpoint = std::fs::read_to_string(job.join("checkpoint-00000-of-00001.json"))
            .map(|t| serde_json::from_str::<Value>(&t).unwrap());
        if let Ok(cp) = checkpoint {
            if results_len > cp["resultsBytes"].as_u64().unwrap() {
                kills.with_uncommitted_output += 1;
            }
        }
    }
    kills
}

#[test]
fn a_job_writes_vertex_named_files_and_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"x0\": 30, \"x1\": 60, \"x2\": 30}\n\n{\"x0\": 10, \"x1\": 20, \"x2\": 10}\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let out = run(&[
        "batch",
        &model_dir("peer_linear"),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out_dir.to_str().unwrap(),
        "--explain",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let jobs: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    // prediction-<model>-<YYYY-MM-DDThh:mm:ss.sssZ>
    let name = job.file_name().unwrap().to_str().unwrap();
    let time = name.strip_prefix("prediction-peer_linear-").unwrap();
    assert_eq!(time.len(), 24, "{name}");
    for (i, c) in time.chars().enumerate() {
        let expected = match i {
            4 | 7 => '-',
            10 => 'T',
            13 | 16 => ':',
            19 => '.',
            23 => 'Z',
            _ => '0',
        };
        if expected == '0' {
            assert!(c.is_ascii_digit(), "{name}");
        } else {
            assert_eq!(c, expected, "{name}");
        }
    }
    let mut files: Vec<String> = std::fs::read_dir(job)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "checkpoint-00000-of-00001.json",
            "checkpoint-00000-of-00001.lock",
            "prediction.errors_stats-00000-of-00001",
            "prediction.results-00000-of-00001",
            "stats-00000-of-00001.json",
        ]
    );
    let lines = json_lines(&results(job));
    assert_eq!(
        lines[0],
        json!({
            "instance": {"x0": 30, "x1": 60, "x2": 30},
            "prediction": {"y": [365.0]},
            "explanation": {"attributions": [{
                "baselineOutputValue": 125.0, "instanceOutputValue": 365.0,
                "featureAttributions": {"x0": 40.0, "x1": 120.0, "x2": 80.0},
                "outputIndex": [0], "approximationError": 0.0, "outputName": "y"}]}
        })
    );
    assert_eq!(lines[1]["prediction"], json!({"y": [125.0]}));
    assert_eq!(lines.len(), 2);
    assert_eq!(std::fs::read(errors(job)).unwrap().len(), 0);
    let s = stats(job);
    assert_eq!(s["state"], "JOB_STATE_SUCCEEDED");
    assert_eq!(counts(&s), (2, 0, 0));
    // Standard output is the stats with the job folder.
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["completionStats"], s["completionStats"]);
    assert_eq!(printed["outputDirectory"], json!(job.display().to_string()));
}

#[test]
fn bad_lines_go_to_the_errors_file_and_the_job_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"x0\": 30, \"x1\": 60, \"x2\": 30}\n",
            "{not json\n",
            "{\"x0\": 1, \"x1\": 2}\n",
            "[1, 2]\n",
            "{\"x0\": 1, \"x1\": 2, \"x2\": \"three\"}\n",
            "{\"x0\": 1, \"x1\": 1, \"x2\": 1}\n",
            "{\"x0\": 0, \"x1\": 0, \"x2\": 0}\n",
            "{\"x0\": 0, \"x1\": 0, \"x2\": 1}\n",
            "{\"x0\": 0, \"x1\": 1, \"x2\": 0}\n",
        ),
    )
    .unwrap();
    let dir = model_dir("peer_linear");
    let args = [
        "batch",
        dir.as_str(),
        "-i",
        input.to_str().unwrap(),
        "-o",
        tmp.path().to_str().unwrap(),
        "--job-id",
        "bad",
    ];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("4 instance(s) failed"),
        "{}",
        stderr(&out)
    );
    let job = tmp.path().join("bad");
    let ok = json_lines(&results(&job));
    let predictions: Vec<&Value> = ok.iter().map(|l| &l["prediction"]["y"][0]).collect();
    assert_eq!(predictions, [365.0, 14.0, 5.0, 9.0, 8.0]);
    let bad = json_lines(&errors(&job));
    assert_eq!(bad.len(), 4);
    assert_eq!(bad[0]["instance"], json!("{not json"));
    assert_eq!(bad[1]["instance"], json!({"x0": 1, "x1": 2}));
    assert_eq!(bad[2]["instance"], json!([1, 2]));
    for (line, (number, words)) in
        bad.iter()
            .zip([(2, "invalid JSON"), (3, "x2"), (4, ""), (5, "x2")])
    {
        // Exactly {"instance", "error": {"code", "message"}}.
        assert_eq!(line.as_object().unwrap().len(), 2, "{line}");
        assert_eq!(line["error"].as_object().unwrap().len(), 2, "{line}");
        assert_eq!(line["error"]["code"], json!(3), "{line}");
        let message = line["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("line {number}:")), "{message}");
        assert!(message.contains(words), "{message}");
    }
    assert_eq!(counts(&stats(&job)), (5, 4, 0));
    assert_eq!(stats(&job)["state"], "JOB_STATE_SUCCEEDED");
}

#[test]
fn too_many_failures_fail_the_job_early() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    // 300 lines, 2 of every 3 lacking x2.
    let text: String = (0..300)
        .map(|i| {
            if i % 3 == 0 {
                "{\"x0\": 1, \"x1\": 1, \"x2\": 1}\n"
            } else {
                "{\"x0\": 1, \"x1\": 1}\n"
            }
        })
        .collect();
    std::fs::write(&input, text).unwrap();
    let dir = model_dir("peer_linear");
    let job_args = |job: &'static str, extra: &'static [&'static str]| {
        let mut a = vec![
            "batch".to_string(),
            dir.clone(),
            "-i".into(),
            input.display().to_string(),
            "-o".into(),
            tmp.path().display().to_string(),
            "--batch-size".into(),
            "10".into(),
            "--job-id".into(),
            job.into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let out = prism().args(job_args("failing", &[])).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the job failed: 66 of 100 instances failed"),
        "{}",
        stderr(&out)
    );
    let job = tmp.path().join("failing");
    let s = stats(&job);
    assert_eq!(s["state"], "JOB_STATE_FAILED");
    assert_eq!(s["error"]["code"], json!(3));
    // Judged from the 100th record on: the job stopped there, not at 300, and how many
    // records it left is not known.
    assert_eq!(counts(&s), (34, 66, -1));
    assert_eq!(json_lines(&errors(&job)).len(), 66);
    // Run again, a failed job stays failed without more work.
    let again = prism().args(job_args("failing", &[])).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(counts(&stats(&job)), (34, 66, -1));

    // A ratio of 1 never fails the job.
    let out = prism()
        .args(job_args("tolerant", &["--max-failed-ratio", "1"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(counts(&stats(&tmp.path().join("tolerant"))), (100, 200, 0));
}

#[test]
fn csv_key_field_names_results_and_rows_are_typed() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.csv");
    std::fs::write(
        &input,
        "id,x0,x1,x2,comment\n7,30,60,30,\"fine, thanks\"\nb,1.5,0,-2,\"two\nlines\"\nc,1,2,x,\n",
    )
    .unwrap();
    let out = run(&[
        "batch",
        &model_dir("peer_linear"),
        "-i",
        &format!("file://{}", input.display()),
        "-o",
        tmp.path().to_str().unwrap(),
        "--format",
        "csv",
        "--key-field",
        "id",
        "--excluded-fields",
        "comment",
        "--job-id",
        "csv",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let job = tmp.path().join("csv");
    // y = 2 x0 + 3 x1 + 4 x2 + 5, keys typed like the other fields.
    assert_eq!(
        json_lines(&results(&job)),
        [
            json!({"key": 7, "prediction": {"y": [365.0]}}),
            json!({"key": "b", "prediction": {"y": [0.0]}}),
        ]
    );
    let bad = json_lines(&errors(&job));
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["key"], json!("c"));
    assert_eq!(bad[0]["instance"], json!([1, 2, "x"]));
    assert!(
        bad[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 5"),
        "{}",
        bad[0]
    );
}

#[test]
fn file_list_lines_become_base64_instances() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.bin"), "hi").unwrap();
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    std::fs::write(tmp.path().join("sub/b.bin"), [0u8, 255, 7]).unwrap();
    let list = tmp.path().join("files.txt");
    std::fs::write(
        &list,
        format!(
            "a.bin\nfile://{}\nmissing.bin\n",
            tmp.path().join("sub/b.bin").display()
        ),
    )
    .unwrap();
    let out = run(&[
        "batch",
        &model_dir("peer_linear"),
        "-i",
        list.to_str().unwrap(),
        "-o",
        tmp.path().to_str().unwrap(),
        "--format",
        "file-list",
        "--job-id",
        "files",
        "--max-failed-ratio",
        "1",
    ]);
    // peer_linear takes numbers, so every instance fails, showing what it was sent.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let bad = json_lines(&errors(&tmp.path().join("files")));
    assert_eq!(bad.len(), 3);
    assert_eq!(bad[0]["instance"], json!({"b64": "aGk="}));
    assert_eq!(bad[1]["instance"], json!({"b64": "AP8H"}));
    assert_eq!(bad[2]["instance"], json!("missing.bin"));
    assert!(
        bad[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot read"),
        "{}",
        bad[2]
    );
}

#[test]
fn unsupported_inputs_and_formats_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&[
        "batch",
        &model_dir("peer_linear"),
        "-i",
        "ftp://host/in.jsonl",
        "-o",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "ftp://host/in.jsonl: only local paths, file://, s3:// and gs:// URLs are supported"
        ),
        "{}",
        stderr(&out)
    );
    let out = run(&[
        "batch",
        &model_dir("peer_linear"),
        "-i",
        "x",
        "-o",
        tmp.path().to_str().unwrap(),
        "--format",
        "tf-record",
    ]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(stderr(&out).contains("tf-record"), "{}", stderr(&out));
}

#[test]
fn kill_9_at_random_points_then_resume_writes_every_line_exactly_once() {
    // Enough lines that six kills land mid-job however fast the model runs.
    const N: usize = 12_000;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    let (text, bad) = breast_cancer_lines(N);
    std::fs::write(&input, text).unwrap();
    let dir = model_dir("breast_cancer_mlp");
    let args = |job: &str| -> Vec<String> {
        [
            "batch",
            dir.as_str(),
            "-i",
            input.to_str().unwrap(),
            "-o",
            tmp.path().to_str().unwrap(),
            "--explain",
            "--key-field",
            "id",
            "--batch-size",
            "16",
            "--job-id",
            job,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let reference = prism().args(args("reference")).output().unwrap();
    assert_eq!(reference.status.code(), Some(2), "{}", stderr(&reference));

    let job = tmp.path().join("killed");
    let mut rng = Rng(0x5eed_1234_abcd);
    let kills = kill_at_random_points(&args, &job, N, 6, N as u64 / 10, &mut rng, true);
    assert!(
        kills.mid_job >= 4,
        "only {} kills landed mid-job",
        kills.mid_job
    );
    eprintln!(
        "{} kills left uncommitted output",
        kills.with_uncommitted_output
    );

    let last = prism().args(args("killed")).output().unwrap();
    assert_eq!(last.status.code(), Some(2), "{}", stderr(&last));
    assert!(
        stderr(&last).contains("resuming job killed"),
        "{}",
        stderr(&last)
    );

    // Byte for byte what the uninterrupted run wrote.
    let reference_job = tmp.path().join("reference");
    assert_eq!(
        std::fs::read(results(&job)).unwrap(),
        std::fs::read(results(&reference_job)).unwrap()
    );
    assert_eq!(
        std::fs::read(errors(&job)).unwrap(),
        std::fs::read(errors(&reference_job)).unwrap()
    );
    // And so: every id once, the bad ones in the errors file.
    let seen = id_counts(&[results(&job), errors(&job)]);
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|&n| n == 1));
    let failed: BTreeSet<String> = json_lines(&errors(&job)).iter().map(line_id).collect();
    assert_eq!(failed, bad);
    let s = stats(&job);
    assert_eq!(s["state"], "JOB_STATE_SUCCEEDED");
    assert_eq!(counts(&s), ((N - bad.len()) as i64, bad.len() as i64, 0));
    for line in json_lines(&results(&job)).iter().step_by(97) {
        let a = &line["explanation"]["attributions"][0];
        let sum: f64 = a["featureAttributions"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum();
        let gap =
            a["instanceOutputValue"].as_f64().unwrap() - a["baselineOutputValue"].as_f64().unwrap();
        assert!((sum - gap).abs() < 1e-4, "efficiency: {sum} vs {gap}");
    }
}

#[test]
fn sigint_cancels_after_the_batch_and_the_job_resumes() {
    const N: usize = 4000;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    let (text, bad) = breast_cancer_lines(N);
    std::fs::write(&input, text).unwrap();
    let dir = model_dir("breast_cancer_mlp");
    let args: Vec<String> = [
        "batch",
        dir.as_str(),
        "-i",
        input.to_str().unwrap(),
        "-o",
        tmp.path().to_str().unwrap(),
        "--explain",
        "--key-field",
        "id",
        "--batch-size",
        "16",
        "--job-id",
        "job",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let job = tmp.path().join("job");
    let mut child = prism()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for_progress(&mut child, &job, 200));
    let at_signal = committed(&job);
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stopped_in = sent.elapsed();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--job-id job to resume"),
        "{}",
        stderr(&out)
    );
    assert!(stopped_in < Duration::from_secs(10), "took {stopped_in:?}");
    let s = stats(&job);
    assert_eq!(s["state"], "JOB_STATE_CANCELLED");
    let (ok, failed, incomplete) = counts(&s);
    assert_eq!(incomplete, -1);
    // Batches in flight are finished (one being written, one being computed), then it
    // stops: a few batches of 16 past the checkpoint read before the signal (the slack
    // covers batches that completed while `kill` was starting), far from the 4000.
    let done = (ok + failed) as u64;
    assert!(
        done >= at_signal && done <= at_signal + 10 * 16,
        "{at_signal} -> {done}"
    );
    assert!(done < N as u64);
    assert_eq!(json_lines(&results(&job)).len() as i64, ok);
    assert_eq!(json_lines(&errors(&job)).len() as i64, failed);
    assert_eq!(committed(&job), done);

    let out = prism().args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let seen = id_counts(&[results(&job), errors(&job)]);
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|&n| n == 1));
    assert_eq!(
        counts(&stats(&job)),
        ((N - bad.len()) as i64, bad.len() as i64, 0)
    );
}

/// VmRSS and VmHWM (peak) of a process, in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[test]
fn a_million_lines_stream_through_flat_memory() {
    const N: usize = 1_000_000;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    {
        let mut w = BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..N {
            writeln!(
                w,
                "{{\"x0\": {}, \"x1\": {}, \"x2\": {}}}",
                i % 97,
                i % 13,
                i % 7
            )
            .unwrap();
        }
        w.flush().unwrap();
    }
    let input_bytes = std::fs::metadata(&input).unwrap().len();
    let dir = model_dir("peer_linear");
    let mut child = prism()
        .args([
            "batch",
            dir.as_str(),
            "-i",
            input.to_str().unwrap(),
            "-o",
            tmp.path().to_str().unwrap(),
            "--batch-size",
            "8192",
            "--job-id",
            "big",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak_kib = 0;
    let mut samples = 0;
    while child.try_wait().unwrap().is_none() {
        if let Some((rss, hwm)) = memory_kib(pid) {
            peak_kib = peak_kib.max(rss).max(hwm);
            samples += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(samples >= 10, "only {samples} memory samples");
    eprintln!(
        "1M lines: input {} MiB, peak RSS {} MiB, {samples} samples",
        input_bytes >> 20,
        peak_kib >> 10
    );
    // Loading the input (about 30 MB of text, several times that as JSON values) or
    // holding the results (about 60 MB) would pass this bound; streaming stays far below
    // it (about 40 MiB, most of it the binary and the model).
    let bound_kib = 80 * 1024;
    assert!(peak_kib < bound_kib, "peak RSS {peak_kib} KiB");

    let job = tmp.path().join("big");
    let reader = BufReader::new(std::fs::File::open(results(&job)).unwrap());
    let mut lines = 0usize;
    for (i, line) in reader.lines().enumerate() {
        let line = line.unwrap();
        if i % 99_991 == 0 {
            let v: Value = serde_json::from_str(&line).unwrap();
            let (x0, x1, x2) = ((i % 97) as f64, (i % 13) as f64, (i % 7) as f64);
            assert_eq!(
                v["prediction"]["y"],
                json!([2.0 * x0 + 3.0 * x1 + 4.0 * x2 + 5.0]),
                "line {i}"
            );
        }
        lines += 1;
    }
    assert_eq!(lines, N);
    assert_eq!(counts(&stats(&job)), (N as i64, 0, 0));
}

#[test]
fn three_shards_cover_every_line_once_and_merge_stats_sums_them() {
    const N: usize = 3001;
    let tmp = tempfile::tempdir().unwrap();
    let input_a = tmp.path().join("a.jsonl");
    let input_b = tmp.path().join("b.jsonl");
    let line = |i: usize| {
        if i % 100 == 42 {
            format!("{{\"id\": \"r{i}\", \"x0\": 1}}\n")
        } else {
            format!("{{\"id\": \"r{i}\", \"x0\": {i}, \"x1\": 1, \"x2\": 2}}\n")
        }
    };
    // Two files, numbered on across them.
    std::fs::write(&input_a, (0..1000).map(line).collect::<String>()).unwrap();
    std::fs::write(&input_b, (1000..N).map(line).collect::<String>()).unwrap();
    let pattern = format!("{}/*.jsonl", tmp.path().display());
    let dir = model_dir("peer_linear");
    let out_dir = tmp.path().join("out");
    let shard = |i: u32| {
        prism()
            .args([
                "batch",
                dir.as_str(),
                "-i",
                pattern.as_str(),
                "-o",
                out_dir.to_str().unwrap(),
                "--key-field",
                "id",
                "--job-id",
                "sharded",
                "--shard-index",
                &i.to_string(),
                "--shard-count",
                "3",
                "--batch-size",
                "50",
            ])
            .output()
            .unwrap()
    };
    let job = out_dir.join("sharded");
    let merge = || {
        prism()
            .args(["batch", "merge-stats", job.to_str().unwrap()])
            .output()
            .unwrap()
    };
    for i in [0, 2] {
        let out = shard(i);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }
    let partial = merge();
    assert_eq!(partial.status.code(), Some(1));
    let m: Value = serde_json::from_slice(&partial.stdout).unwrap();
    assert_eq!(m["missingShards"], json!([1]));
    assert_eq!(m["state"], "JOB_STATE_RUNNING");
    assert_eq!(m["completionStats"]["incompleteCount"], "-1");

    let out = shard(1);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let mut results_files = Vec::new();
    let mut errors_files = Vec::new();
    for i in 0..3u32 {
        let r = shard_file(&job, "prediction.results", i, 3);
        let e = shard_file(&job, "prediction.errors_stats", i, 3);
        // Record n belongs to shard n % 3.
        for l in json_lines(&r).iter().chain(json_lines(&e).iter()) {
            let n: u32 = line_id(l)[1..].parse().unwrap();
            assert_eq!(n % 3, i, "{l}");
        }
        results_files.push(r);
        errors_files.push(e);
    }
    let seen = id_counts(&[results_files, errors_files].concat());
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|&n| n == 1));

    let merged = merge();
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    let m: Value = serde_json::from_slice(&merged.stdout).unwrap();
    let failed = (0..N).filter(|i| i % 100 == 42).count();
    assert_eq!(m["state"], "JOB_STATE_SUCCEEDED");
    assert_eq!(m["shards"], json!([0, 1, 2]));
    assert_eq!(m["missingShards"], json!([]));
    assert_eq!(
        m["completionStats"],
        json!({
            "successfulCount": (N - failed).to_string(),
            "failedCount": failed.to_string(),
            "incompleteCount": "0",
        })
    );
    // The same shard's stats twice is an error, not a sum.
    let twice = prism()
        .args([
            "batch",
            "merge-stats",
            job.to_str().unwrap(),
            job.join("stats-00001-of-00003.json").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        stderr(&twice).contains("shard 1 appears twice"),
        "{}",
        stderr(&twice)
    );
}

/// Writes `n` peer_linear rows keyed `r0`, `r1`, … as Parquet (row groups of 500, zstd).
fn write_linear_parquet(path: &Path, n: usize) {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = parquet::schema::parser::parse_message_type(
        "message row { required binary id (UTF8); required int64 x0; required double x1; required int64 x2; }",
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        SerializedFileWriter::new(file, std::sync::Arc::new(schema), props.into()).unwrap();
    for start in (0..n).step_by(500) {
        let rows: Vec<usize> = (start..(start + 500).min(n)).collect();
        let ids: Vec<ByteArray> = rows
            .iter()
            .map(|i| format!("r{i}").as_str().into())
            .collect();
        let x0: Vec<i64> = rows.iter().map(|&i| (i % 97) as i64).collect();
        let x1: Vec<f64> = rows.iter().map(|&i| (i % 13) as f64 * 0.25).collect();
        let x2: Vec<i64> = rows.iter().map(|&i| -((i % 7) as i64)).collect();
        let mut group = writer.next_row_group().unwrap();
        let mut c = group.next_column().unwrap().unwrap();
        c.typed::<ByteArrayType>()
            .write_batch(&ids, None, None)
            .unwrap();
        c.close().unwrap();
        let mut c = group.next_column().unwrap().unwrap();
        c.typed::<Int64Type>().write_batch(&x0, None, None).unwrap();
        c.close().unwrap();
        let mut c = group.next_column().unwrap().unwrap();
        c.typed::<DoubleType>()
            .write_batch(&x1, None, None)
            .unwrap();
        c.close().unwrap();
        let mut c = group.next_column().unwrap().unwrap();
        c.typed::<Int64Type>().write_batch(&x2, None, None).unwrap();
        c.close().unwrap();
        group.close().unwrap();
    }
    writer.close().unwrap();
}

#[test]
fn parquet_job_killed_3_times_then_resumed_matches_an_uninterrupted_run() {
    const N: usize = 4000;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.parquet");
    write_linear_parquet(&input, N);
    let dir = model_dir("peer_linear");
    let args = |job: &str| -> Vec<String> {
        [
            "batch",
            dir.as_str(),
            "-i",
            input.to_str().unwrap(),
            "-o",
            tmp.path().to_str().unwrap(),
            "--format",
            "parquet",
            "--instance-type",
            "object",
            "--explain",
            "--key-field",
            "id",
            "--batch-size",
            "8",
            "--job-id",
            job,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let reference = prism().args(args("reference")).output().unwrap();
    assert_eq!(reference.status.code(), Some(0), "{}", stderr(&reference));
    let job = tmp.path().join("killed");
    let mut rng = Rng(0x9a7e_0e75);
    let kills = kill_at_random_points(&args, &job, N, 3, N as u64 / 8, &mut rng, false);
    assert!(
        kills.mid_job >= 2,
        "only {} kills landed mid-job",
        kills.mid_job
    );
    let last = prism().args(args("killed")).output().unwrap();
    assert_eq!(last.status.code(), Some(0), "{}", stderr(&last));
    let reference_job = tmp.path().join("reference");
    assert_eq!(
        std::fs::read(results(&job)).unwrap(),
        std::fs::read(results(&reference_job)).unwrap()
    );
    let seen = id_counts(&[results(&job), errors(&job)]);
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|&n| n == 1));
    assert_eq!(
        stats(&job)["completionStats"],
        json!({"successfulCount": "4000", "failedCount": "0", "incompleteCount": "0"})
    );
}

#[test]
fn csv_output_is_a_table_of_keys_and_predictions_and_refuses_explanations() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.csv");
    std::fs::write(
        &input,
        "id,x0,x1,x2\na,1,2,3\nb,0,0,1\nc,1,x,1\nd,-1,0.5,0\n",
    )
    .unwrap();
    let base = |job: &str, output_format: &str| -> Vec<String> {
        [
            "batch",
            &model_dir("peer_linear"),
            "-i",
            input.to_str().unwrap(),
            "-o",
            tmp.path().to_str().unwrap(),
            "--format",
            "csv",
            "--instance-type",
            "object",
            "--output-format",
            output_format,
            "--job-id",
            job,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let keyed = prism()
        .args(base("keyed", "csv"))
        .args(["--key-field", "id"])
        .output()
        .unwrap();
    // Row c has a string where a number goes: one failure.
    assert_eq!(keyed.status.code(), Some(2), "{}", stderr(&keyed));
    let json_run = prism()
        .args(base("as-json", "jsonl"))
        .args(["--key-field", "id"])
        .output()
        .unwrap();
    assert_eq!(json_run.status.code(), Some(2), "{}", stderr(&json_run));
    // The same predictions as the JSON lines job, as JSON text in the cells (one-element
    // arrays hold no comma, so they are not quoted).
    let want: Vec<String> = json_lines(&results(&tmp.path().join("as-json")))
        .iter()
        .map(|l| format!("{},{}", l["key"].as_str().unwrap(), l["prediction"]["y"]))
        .collect();
    let table = std::fs::read_to_string(results(&tmp.path().join("keyed"))).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "key,predicted_y");
    assert_eq!(
        lines[1..],
        want.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
    assert_eq!(want.len(), 3);
    let bad = json_lines(&errors(&tmp.path().join("keyed")));
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["key"], json!("c"));
    assert_eq!(
        stats(&tmp.path().join("keyed"))["completionStats"],
        json!({"successfulCount": "3", "failedCount": "1", "incompleteCount": "0"})
    );

    let plain = prism()
        .args(base("plain", "csv"))
        .args(["--excluded-fields", "id"])
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(2), "{}", stderr(&plain));
    let table = std::fs::read_to_string(results(&tmp.path().join("plain"))).unwrap();
    let first: Vec<&str> = table.lines().take(2).collect();
    assert_eq!(first[0], "x0,x1,x2,predicted_y");
    assert_eq!(first[1], format!("1,2,3,{}", &want[0][2..]));

    let explained = prism()
        .args(base("explained", "csv"))
        .arg("--explain")
        .output()
        .unwrap();
    assert_eq!(explained.status.code(), Some(1));
    assert!(
        stderr(&explained).contains("CSV output cannot hold explanations"),
        "{}",
        stderr(&explained)
    );
}
