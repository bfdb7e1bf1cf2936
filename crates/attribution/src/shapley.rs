//! Sampled Shapley: the mean marginal contribution of each player over random permutations.
//!
//! Each path is a permutation of the players. Walking it from the baseline, each player in
//! turn switches to its instance value and is credited the change of the output, so every
//! path's credits sum exactly to `f(x) − f(baseline)`.
//!
//! **Antithetic pairs.** Paths come in pairs: a random permutation and its reverse. A
//! player's credits on a permutation and on its reverse together weigh its interactions with
//! every other player symmetrically, which makes the pair's average exact for models whose
//! interactions are at most pairwise (`f = x0·x2 + x1 + …`). An odd `pathCount` ends with an
//! unpaired permutation.
//!
//! **Exact when cheap.** When `pathCount` is at least `players!`, every permutation is
//! walked once instead, which gives the exact Shapley values (and an approximation error
//! of 0) at no extra cost.
//!
//! **Cost.** The first state of every path is the baseline and the last is the instance;
//! both are evaluated once per instance, so a path costs `players − 1` evaluations, and
//! paths are evaluated in batches of whole paths under the row cap.
//!
//! **approximationError.** The standard error of the estimate: the samples are the pair
//! averages (an unpaired path is its own sample); per player, SE = sd(samples)/√samples; the
//! error reported is ‖SE‖₂ / |f(x) − f(baseline)|. With fewer than two samples (pathCount
//! ≤ 2) the spread cannot be estimated and the error is reported as 0.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::{Attributor, Estimate, Problem};

/// Sampled Shapley with `path_count` permutation paths (1..=50, Vertex's range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampledShapley {
    /// Number of permutations sampled.
    pub path_count: usize,
}

impl Attributor for SampledShapley {
    fn attribute(&self, problem: &Problem<'_>) -> Result<Estimate> {
        let players = problem.players.len();
        let outputs = problem.instance_output.len();
        let paths = self.path_count.max(1);
        let (permutations, exact) = match all_permutations(players, paths) {
            Some(all) => (all, true),
            None => (
                antithetic_permutations(players, paths, problem.seed, problem.stream),
                false,
            ),
        };
        let paths = permutations.len();
        // Model outputs at every inner state, path after path; the rows that produce them
        // are built and evaluated `max_rows` at a time, so memory stays bounded however
        // many players there are.
        let inner_rows = players.saturating_sub(1);
        let mut inner_outputs: Vec<f64> = Vec::with_capacity(paths * inner_rows * outputs);
        let mut rows = crate::Rows::new(problem.instance, problem.max_rows.min(paths * inner_rows));
        let mut state = problem.baseline.values.clone();
        for perm in &permutations {
            for (dst, src) in state.iter_mut().zip(&problem.baseline.values) {
                dst.copy_from_slice(src);
            }
            for &p in perm.iter().take(inner_rows) {
                for &(t, i) in &problem.players[p].positions {
                    state[t][i] = problem.instance.values[t][i];
                }
                rows.push(&state);
                if rows.len() >= problem.max_rows {
                    inner_outputs.extend((problem.evaluate)(&rows)?.values);
                    rows.clear();
                }
            }
        }
        if !rows.is_empty() {
            inner_outputs.extend((problem.evaluate)(&rows)?.values);
        }
        // credits[path][output][player]
        let mut credits = vec![vec![vec![0f64; players]; outputs]; paths];
        for (k, perm) in permutations.iter().enumerate() {
            for o in 0..outputs {
                let mut prev = problem.baseline_output[o];
                for (step, &p) in perm.iter().enumerate() {
                    let cur = if step + 1 == players {
                        problem.instance_output[o]
                    } else {
                        inner_outputs[(k * inner_rows + step) * outputs + o]
                    };
                    credits[k][o][p] += cur - prev;
                    prev = cur;
                }
            }
        }
        let mut estimate = summarize(&credits, players, outputs);
        if exact {
            estimate.std_error.iter_mut().for_each(|e| *e = 0.0);
        }
        Ok(estimate)
    }
}

/// `paths` permutations in antithetic pairs: a random one, then its reverse.
fn antithetic_permutations(
    players: usize,
    paths: usize,
    seed: u64,
    stream: u64,
) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut order: Vec<usize> = (0..players).collect();
    let mut permutations = Vec::with_capacity(paths);
    while permutations.len() < paths {
        order.shuffle(&mut rng);
        permutations.push(order.clone());
        if permutations.len() < paths {
            permutations.push(order.iter().rev().copied().collect());
        }
    }
    permutations
}

/// Every permutation, when there are no more than `budget` of them: walking each once gives
/// exact Shapley values for the same cost as sampling.
fn all_permutations(players: usize, budget: usize) -> Option<Vec<Vec<usize>>> {
    let count =
        (1..=players).try_fold(1usize, |acc, k| acc.checked_mul(k).filter(|&c| c <= budget))?;
    let mut out = Vec::with_capacity(count);
    let mut current: Vec<usize> = (0..players).collect();
    permute(&mut current, 0, &mut out);
    Some(out)
}

fn permute(items: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
    if k + 1 >= items.len() {
        out.push(items.clone());
        return;
    }
    for i in k..items.len() {
        items.swap(k, i);
        permute(items, k + 1, out);
        items.swap(k, i);
    }
}

/// Mean over paths, and the standard error over pair-averaged samples.
fn summarize(credits: &[Vec<Vec<f64>>], players: usize, outputs: usize) -> Estimate {
    let paths = credits.len();
    let samples: Vec<Vec<Vec<f64>>> = credits
        .chunks(2)
        .map(|pair| {
            (0..outputs)
                .map(|o| {
                    (0..players)
                        .map(|j| pair.iter().map(|p| p[o][j]).sum::<f64>() / pair.len() as f64)
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut values = vec![vec![0f64; players]; outputs];
    for path in credits {
        for o in 0..outputs {
            for j in 0..players {
                values[o][j] += path[o][j] / paths as f64;
            }
        }
    }
    let n = samples.len();
    let std_error = (0..outputs)
        .map(|o| {
            if n < 2 {
                return 0.0;
            }
            let mut sum_sq = 0.0;
            for j in 0..players {
                let mean = samples.iter().map(|s| s[o][j]).sum::<f64>() / n as f64;
                let var = samples
                    .iter()
                    .map(|s| (s[o][j] - mean).powi(2))
                    .sum::<f64>()
                    / (n - 1) as f64;
                sum_sq += var / n as f64;
            }
            sum_sq.sqrt()
        })
        .collect();
    Estimate {
        values,
        std_error,
        baseline_output: None,
        path_sum: None,
    }
}
