//! Times prism-model's forward pass (tract) on one batch, as ONNX Runtime is timed.
//!
//! `tract-forward MODEL.onnx ROWS.f32 COLS CALLS THREADS REPEATS` reads a row-major
//! little-endian f32 batch of COLS columns, runs it CALLS times split over THREADS threads
//! sharing one model (Prism's own parallelism: one instance per core), and prints the best
//! of REPEATS as seconds per row: wall time, then CPU time (user + system, all threads).

use std::time::Instant;

use prism_model::{Model, OnnxModel, Tensor};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!("usage: tract-forward MODEL.onnx ROWS.f32 COLS CALLS THREADS REPEATS");
        std::process::exit(2);
    }
    let num = |i: usize| -> usize { args[i].parse().expect("a number") };
    let (cols, calls, threads, repeats) = (num(3), num(4), num(5).max(1), num(6).max(1));
    let model = OnnxModel::load(&args[1]).expect("the model loads");
    let bytes = std::fs::read(&args[2]).expect("the rows file reads");
    let data: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let rows = data.len() / cols;
    let input = [Tensor::f32(vec![rows, cols], data).expect("rows × cols values")];
    for _ in 0..20 {
        model.forward(&input).expect("forward");
    }
    let per_thread = calls / threads;
    let mut best = f64::MAX;
    let mut best_cpu = f64::MAX;
    for _ in 0..repeats {
        let cpu = cpu_seconds();
        let start = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        model.forward(&input).expect("forward");
                    }
                });
            }
        });
        best = best.min(start.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu_seconds() - cpu);
    }
    let n = (per_thread * threads * rows) as f64;
    println!("{:e} {:e}", best / n, best_cpu / n);
}

/// The process's user + system time so far, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}
