//! What a ladder shares with the threads of its pipeline.

use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::mpsc::UnboundedSender;

use super::event::LadderEvent;
use super::gate::RungControl;
use super::output::RungOutput;
use super::push_log::PushLog;
use super::rung::Rung;
use super::timebase::TimeBase;

/// A rung as the pipeline makes it, with the state it shares with the
/// ladder.
#[derive(Debug)]
pub(crate) struct RungPlan {
    pub(crate) rung: Rung,
    pub(crate) width: u32,
    pub(crate) control: Arc<RungControl>,
    pub(crate) output: Arc<RungOutput>,
}

/// Ladder state the pipeline's threads read and write.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) timebase: Arc<OnceLock<TimeBase>>,
    pub(crate) log: Arc<Mutex<PushLog>>,
    pub(crate) events: UnboundedSender<LadderEvent>,
}
