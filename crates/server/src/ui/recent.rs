//! The images of the explanations the UI showed last, kept so that a heatmap can be redrawn
//! with other visualization options without explaining again.
//!
//! Bounded ([`KEEP`] explanations, oldest dropped first) and per process: behind a load
//! balancer, a redraw that lands on another node finds nothing and the page says to run the
//! explanation again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use prism_viz::{ImagePanel, MethodDefaults};

/// How many explanations are kept.
pub(crate) const KEEP: usize = 32;

/// The UI's share of the server state.
#[derive(Default)]
pub struct UiState {
    recent: Mutex<VecDeque<(String, Arc<Shown>)>>,
}

/// The image panels of one explanation, as shown.
#[derive(Debug)]
pub(crate) struct Shown {
    /// (the attribution's output label, the panel), in page order.
    pub(crate) images: Vec<(String, ImagePanel)>,
    /// Whose defaults fill the options a visualization leaves unset.
    pub(crate) method: MethodDefaults,
}

impl UiState {
    /// Keeps an explanation's images; returns the key to fetch them by.
    pub(crate) fn keep(&self, shown: Shown) -> String {
        let key = format!("{:032x}", rand::random::<u128>());
        if let Ok(mut recent) = self.recent.lock() {
            while recent.len() >= KEEP {
                recent.pop_front();
            }
            recent.push_back((key.clone(), Arc::new(shown)));
        }
        key
    }

    /// The images kept under `key`, if they are still kept.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<Shown>> {
        self.recent
            .lock()
            .ok()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Shown {
        Shown {
            images: Vec::new(),
            method: MethodDefaults::IntegratedGradients,
        }
    }

    #[test]
    fn keeps_the_latest_only() {
        let state = UiState::default();
        let first = state.keep(empty());
        assert!(state.get(&first).is_some());
        for _ in 0..KEEP {
            state.keep(empty());
        }
        assert!(state.get(&first).is_none());
        assert!(state.get("nonsense").is_none());
    }
}
