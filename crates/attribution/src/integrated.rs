//! Integrated Gradients, with SmoothGrad and Blur IG.
//!
//! A path method attributes `f(x) − f(start)` along a path `p(α)`, α ∈ [0, 1], from a
//! starting point to the instance: element i receives `∫₀¹ ∂f/∂xᵢ(p(α)) · p′ᵢ(α) dα`. The
//! integral is taken with a quadrature rule (`integrationRule`): n-point Gauss–Legendre by
//! default (exact for polynomials of degree 2n − 1 along the path), or a Riemann rule.
//!
//! * **Integrated Gradients**: the straight line `p(α) = b + α(x − b)` from the baseline, so
//!   `p′ = x − b`.
//! * **Blur IG** (`blurBaselineConfig`): image inputs follow `p(α) = blur(x, (1 − α)·σmax)`, a
//!   Gaussian blur fading out (see [`crate::blur`]); `p′` is taken by a central difference
//!   in α. The path starts at the fully blurred image, whose output is reported as
//!   `baselineOutputValue`. Other inputs of the same model follow their straight line.
//! * **SmoothGrad** (`smoothGradConfig`): at every path point, the gradient is the mean over
//!   `noisySampleCount` copies of the point with Gaussian noise of the feature's sigma added
//!   (`noiseSigma`, or `featureNoiseSigma` per feature; unlisted features get none).
//!
//! Inputs that are not differentiated (integer ids) stay at their instance values along the
//! whole path. Attributions are summed per player (a feature's element, or a group).
//!
//! Rows are (point, noisy sample, output) triples, each seeded with a one-hot row on its
//! output, and go to the model in batches of at most `max_rows`.
//!
//! **approximationError**: the completeness gap `|Σ attributions − (f(x) − f(start))|`
//! relative to `|f(x) − f(start)|`, computed by the plan.

use std::sync::Arc;

use prism_spec::IntegrationRule;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::blur::{gaussian_blur, ImageAxes};
use crate::error::{AttributionError, Result};
use crate::{Attributor, Estimate, Problem, Rows};

/// How one model input moves along the path.
#[derive(Debug, Clone, PartialEq)]
pub enum PathTensor {
    /// Held at the instance value (not differentiated).
    Fixed,
    /// The straight line from the baseline.
    Straight,
    /// The blur path of an image.
    Blurred(ImageAxes),
}

/// Integrated Gradients (optionally with SmoothGrad and Blur IG).
#[derive(Debug, Clone, PartialEq)]
pub struct IntegratedGradients {
    /// Quadrature nodes (1..=100, `stepCount`).
    pub step_count: usize,
    /// The quadrature rule.
    pub rule: IntegrationRule,
    /// Noisy copies per path point (1: no SmoothGrad).
    pub noisy_samples: usize,
    /// Blur IG's largest blur sigma, in pixels.
    pub max_blur_sigma: Option<f64>,
}

impl IntegratedGradients {
    /// The method as the spec's `integratedGradientsAttribution` (or `xraiAttribution`)
    /// fields configure it.
    pub fn configured(
        step_count: u32,
        rule: IntegrationRule,
        smooth_grad: Option<&prism_spec::SmoothGradConfig>,
        blur: Option<&prism_spec::BlurBaselineConfig>,
    ) -> Self {
        Self {
            step_count: step_count as usize,
            rule,
            noisy_samples: smooth_grad.map_or(1, |s| s.noisy_sample_count as usize),
            max_blur_sigma: blur.map(|b| f64::from(b.max_blur_sigma)),
        }
    }
}

/// Nodes α ∈ [0, 1] and weights (summing to 1) of `rule` with `n` steps.
pub fn quadrature(rule: IntegrationRule, n: usize) -> (Vec<f64>, Vec<f64>) {
    let n = n.max(1);
    let nf = n as f64;
    match rule {
        IntegrationRule::RiemannLeft => {
            ((0..n).map(|k| k as f64 / nf).collect(), vec![1.0 / nf; n])
        }
        IntegrationRule::RiemannRight => {
            ((1..=n).map(|k| k as f64 / nf).collect(), vec![1.0 / nf; n])
        }
        IntegrationRule::RiemannMiddle => (
            (0..n).map(|k| (k as f64 + 0.5) / nf).collect(),
            vec![1.0 / nf; n],
        ),
        IntegrationRule::RiemannTrapezoid => {
            let alphas = (0..=n).map(|k| k as f64 / nf).collect();
            let mut weights = vec![1.0 / nf; n + 1];
            weights[0] /= 2.0;
            weights[n] /= 2.0;
            (alphas, weights)
        }
        _ => gauss_legendre(n),
    }
}

/// `n`-point Gauss–Legendre nodes and weights mapped from [−1, 1] to [0, 1], ascending.
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut alphas = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    for i in 0..n {
        // Newton's method on P_n from the usual first guess; converges in a few steps.
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, 0.0);
            for j in 1..=n {
                let p2 = p1;
                p1 = p0;
                p0 = ((2 * j - 1) as f64 * z * p1 - (j - 1) as f64 * p2) / j as f64;
            }
            dp = n as f64 * (z * p0 - p1) / (z * z - 1.0);
            let step = p0 / dp;
            z -= step;
            if step.abs() < 1e-15 {
                break;
            }
        }
        alphas.push((1.0 - z) / 2.0);
        weights.push(1.0 / ((1.0 - z * z) * dp * dp));
    }
    (alphas, weights)
}

/// One path point's weight and direction `p′(α)`, shared by its rows.
struct Point {
    weight: f64,
    direction: Arc<Vec<Vec<f64>>>,
}

impl IntegratedGradients {
    /// The path point at `alpha` for each model input.
    fn point(&self, problem: &Problem<'_>, roles: &[PathTensor], alpha: f64) -> Vec<Vec<f64>> {
        roles
            .iter()
            .enumerate()
            .map(|(t, role)| {
                let x = &problem.instance.values[t];
                let b = &problem.baseline.values[t];
                match role {
                    PathTensor::Fixed => x.clone(),
                    PathTensor::Straight => {
                        x.iter().zip(b).map(|(x, b)| b + alpha * (x - b)).collect()
                    }
                    PathTensor::Blurred(axes) => {
                        let sigma = (1.0 - alpha) * self.max_blur_sigma.unwrap_or(0.0);
                        gaussian_blur(x, axes, sigma)
                    }
                }
            })
            .collect()
    }

    /// `p′(α)` for each model input.
    fn direction(&self, problem: &Problem<'_>, roles: &[PathTensor], alpha: f64) -> Vec<Vec<f64>> {
        roles
            .iter()
            .enumerate()
            .map(|(t, role)| {
                let x = &problem.instance.values[t];
                let b = &problem.baseline.values[t];
                match role {
                    PathTensor::Fixed => vec![0.0; x.len()],
                    PathTensor::Straight => x.iter().zip(b).map(|(x, b)| x - b).collect(),
                    PathTensor::Blurred(axes) => {
                        let sigma_max = self.max_blur_sigma.unwrap_or(0.0);
                        let h = 1e-3;
                        let (lo, hi) = ((alpha - h).max(0.0), (alpha + h).min(1.0));
                        let at = |a: f64| gaussian_blur(x, axes, (1.0 - a) * sigma_max);
                        let (p_lo, p_hi) = (at(lo), at(hi));
                        p_hi.iter()
                            .zip(&p_lo)
                            .map(|(h, l)| (h - l) / (hi - lo))
                            .collect()
                    }
                }
            })
            .collect()
    }
}

impl Attributor for IntegratedGradients {
    fn attribute(&self, problem: &Problem<'_>) -> Result<Estimate> {
        let grads = problem.gradients.as_ref().ok_or_else(|| {
            AttributionError::Unsupported(
                "Integrated Gradients needs a model with gradient outputs".into(),
            )
        })?;
        let roles = grads.roles;
        let outputs = problem.instance_output.len();
        let samples = self.noisy_samples.max(1);
        let (alphas, weights) = quadrature(self.rule, self.step_count);
        let straight = self.direction(problem, roles, 0.0);
        let blurred = roles.iter().any(|r| matches!(r, PathTensor::Blurred(_)));
        let straight = Arc::new(straight);

        let mut rng = ChaCha8Rng::seed_from_u64(problem.seed);
        rng.set_stream(problem.stream);
        let noisy = grads.noise_sigma.iter().any(|t| t.iter().any(|&s| s > 0.0));

        // attributions[output][tensor][element]
        let mut attr: Vec<Vec<Vec<f64>>> = (0..outputs)
            .map(|_| {
                problem
                    .instance
                    .values
                    .iter()
                    .map(|v| vec![0.0; v.len()])
                    .collect()
            })
            .collect();
        let cap = problem.max_rows.max(1);
        let mut rows = Rows::new(problem.instance, cap.min(alphas.len() * samples * outputs));
        let mut meta: Vec<(Arc<Point>, usize)> = Vec::new();
        let mut seeds: Vec<usize> = Vec::new();
        let mut flush = |rows: &mut Rows,
                         meta: &mut Vec<(Arc<Point>, usize)>,
                         seeds: &mut Vec<usize>|
         -> Result<()> {
            let g = (grads.evaluate)(rows, seeds)?;
            for (r, (point, o)) in meta.iter().enumerate() {
                let scale = point.weight / samples as f64;
                for (t, dir) in point.direction.iter().enumerate() {
                    let Some(gt) = g.get(t).filter(|gt| !gt.is_empty()) else {
                        continue;
                    };
                    let len = dir.len();
                    let row = &gt[r * len..(r + 1) * len];
                    for ((a, d), gv) in attr[*o][t].iter_mut().zip(dir).zip(row) {
                        *a += scale * d * gv;
                    }
                }
            }
            rows.clear();
            meta.clear();
            seeds.clear();
            Ok(())
        };
        for (&alpha, &weight) in alphas.iter().zip(&weights) {
            let base = self.point(problem, roles, alpha);
            let direction = if blurred {
                Arc::new(self.direction(problem, roles, alpha))
            } else {
                Arc::clone(&straight)
            };
            let point = Arc::new(Point { weight, direction });
            for _ in 0..samples {
                let values = if noisy {
                    let mut v = base.clone();
                    for (t, sigmas) in grads.noise_sigma.iter().enumerate() {
                        for (x, &s) in v[t].iter_mut().zip(sigmas) {
                            if s > 0.0 {
                                *x += s * standard_normal(&mut rng);
                            }
                        }
                    }
                    v
                } else {
                    base.clone()
                };
                for o in 0..outputs {
                    rows.push(&values);
                    meta.push((Arc::clone(&point), o));
                    seeds.push(o);
                    if rows.len() >= cap {
                        flush(&mut rows, &mut meta, &mut seeds)?;
                    }
                }
            }
        }
        if !rows.is_empty() {
            flush(&mut rows, &mut meta, &mut seeds)?;
        }

        let values: Vec<Vec<f64>> = attr
            .iter()
            .map(|per_tensor| {
                problem
                    .players
                    .iter()
                    .map(|p| p.positions.iter().map(|&(t, i)| per_tensor[t][i]).sum())
                    .collect()
            })
            .collect();
        // Blur IG starts elsewhere than the baseline: its output is the one to report.
        let baseline_output = if blurred {
            let mut start = Rows::new(problem.instance, 1);
            start.push(&self.point(problem, roles, 0.0));
            Some((problem.evaluate)(&start)?.values)
        } else {
            None
        };
        Ok(Estimate {
            values,
            std_error: vec![0.0; outputs],
            baseline_output,
            path_sum: None,
        })
    }

    fn completeness_error(&self) -> bool {
        true
    }
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integrate(rule: IntegrationRule, n: usize, f: impl Fn(f64) -> f64) -> f64 {
        let (a, w) = quadrature(rule, n);
        a.iter().zip(&w).map(|(a, w)| w * f(*a)).sum()
    }

    #[test]
    fn weights_sum_to_one_and_nodes_lie_in_the_unit_interval() {
        for rule in IntegrationRule::ALL {
            for n in [1, 2, 7, 50, 100] {
                let (a, w) = quadrature(*rule, n);
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{rule} {n}");
                assert!(a.iter().all(|a| (0.0..=1.0).contains(a)), "{rule} {n}");
            }
        }
    }

    #[test]
    fn gauss_legendre_is_exact_for_degree_2n_minus_1() {
        // ∫₀¹ α^k dα = 1/(k+1); 5 nodes integrate degree 9 exactly.
        for k in 0..=9 {
            let got = integrate(IntegrationRule::GaussLegendre, 5, |a| a.powi(k));
            assert!((got - 1.0 / f64::from(k + 1)).abs() < 1e-14, "k={k}: {got}");
        }
        // and not degree 10.
        let got = integrate(IntegrationRule::GaussLegendre, 5, |a| a.powi(10));
        assert!((got - 1.0 / 11.0).abs() > 1e-9);
        // Known 2-point nodes: (1 ∓ 1/√3)/2.
        let (a, w) = quadrature(IntegrationRule::GaussLegendre, 2);
        assert!((a[0] - (1.0 - 1.0 / 3f64.sqrt()) / 2.0).abs() < 1e-15);
        assert!((w[0] - 0.5).abs() < 1e-15 && (w[1] - 0.5).abs() < 1e-15);
        // 100 nodes stay accurate.
        let got = integrate(IntegrationRule::GaussLegendre, 100, |a| (3.0 * a).sin());
        assert!((got - (1.0 - 3f64.cos()) / 3.0).abs() < 1e-13);
    }

    #[test]
    fn riemann_rules_have_their_textbook_nodes() {
        let (a, _) = quadrature(IntegrationRule::RiemannLeft, 4);
        assert_eq!(a, vec![0.0, 0.25, 0.5, 0.75]);
        let (a, _) = quadrature(IntegrationRule::RiemannRight, 4);
        assert_eq!(a, vec![0.25, 0.5, 0.75, 1.0]);
        let (a, _) = quadrature(IntegrationRule::RiemannMiddle, 2);
        assert_eq!(a, vec![0.25, 0.75]);
        let (a, w) = quadrature(IntegrationRule::RiemannTrapezoid, 2);
        assert_eq!((a, w), (vec![0.0, 0.5, 1.0], vec![0.25, 0.5, 0.25]));
        // ∫ α² on 4 steps: left 0.21875, right 0.46875, middle 0.328125, trapezoid 0.34375.
        let sq = |a: f64| a * a;
        assert_eq!(integrate(IntegrationRule::RiemannLeft, 4, sq), 0.21875);
        assert_eq!(integrate(IntegrationRule::RiemannRight, 4, sq), 0.46875);
        assert_eq!(integrate(IntegrationRule::RiemannMiddle, 4, sq), 0.328125);
        assert_eq!(integrate(IntegrationRule::RiemannTrapezoid, 4, sq), 0.34375);
    }

    #[test]
    fn standard_normal_draws_have_unit_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let draws: Vec<f64> = (0..200_000).map(|_| standard_normal(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
    }
}
