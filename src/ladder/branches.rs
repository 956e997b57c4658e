//! The rung elements of a ladder pipeline: per rung a scaler (from the
//! source, or with [`Tuning::cascade`](super::Tuning::cascade) from the
//! next larger rung) and an encoder branch `queue ! x264enc ! appsink`,
//! gated at its queue.

use std::sync::Arc;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;

use super::error::LadderError;
use super::gate;
use super::output::Output;
use super::pipeline::Spec;
use super::shared::RungPlan;
use super::tuning::x264_encoder;

/// Adds the rung elements to a pipeline.
pub(crate) struct Branches<'a> {
    pub(crate) pipeline: &'a gst::Pipeline,
    pub(crate) spec: &'a Spec<'a>,
}

impl Branches<'_> {
    /// Every rung scaled from the next larger one.
    pub(crate) fn cascade(&self, decode: &gst::Element) -> Result<(), LadderError> {
        let Some((last, larger)) = self.spec.rungs.split_last() else {
            return Err(LadderError::NoRungs);
        };
        let mut feed = decode.clone();
        let mut from = self.spec.input.height();
        for (index, plan) in larger.iter().enumerate() {
            let mut chain = Vec::new();
            if index > 0 {
                // Off the previous rung's tee: scale in a thread of its own.
                chain.push(self.queue(&format!("scale-{}", plan.rung.name))?);
            }
            chain.extend(self.scaler(plan, from)?);
            let tee = self.make("tee", &format!("tee-{}", plan.rung.name))?;
            chain.push(tee.clone());
            self.add_linked(&feed, &chain)?;
            let branch = self.encoder_branch(plan, None)?;
            self.add_linked(&tee, &branch)?;
            feed = tee;
            from = Some(plan.rung.height);
        }
        let branch = self.encoder_branch(last, Some(from))?;
        self.add_linked(&feed, &branch)
    }

    /// Every rung scaled from the source.
    pub(crate) fn side_by_side(&self, decode: &gst::Element) -> Result<(), LadderError> {
        if self.spec.rungs.is_empty() {
            return Err(LadderError::NoRungs);
        }
        let tee = self.make("tee", "tee-source")?;
        self.add_linked(decode, std::slice::from_ref(&tee))?;
        for plan in self.spec.rungs {
            let branch = self.encoder_branch(plan, Some(self.spec.input.height()))?;
            self.add_linked(&tee, &branch)?;
        }
        Ok(())
    }

    /// `queue ! [scaler !] x264enc ! appsink`, gated at the queue; the
    /// scaler when `scale_from` says from how many lines (if known).
    fn encoder_branch(
        &self,
        plan: &RungPlan,
        scale_from: Option<Option<u32>>,
    ) -> Result<Vec<gst::Element>, LadderError> {
        let name = &plan.rung.name;
        let queue = self.queue(&format!("encode-{name}"))?;
        if let Some(pad) = queue.static_pad("src") {
            gate::install(
                &pad,
                Arc::clone(&plan.control),
                self.spec.shared.clone(),
                self.spec.max_lag,
            );
        }
        let mut branch = vec![queue];
        if let Some(from) = scale_from {
            branch.extend(self.scaler(plan, from)?);
        }
        let tuning = self.spec.tuning;
        let encoder = x264_encoder(
            tuning,
            &format!("x264enc-{name}"),
            plan.rung.bitrate_kbps,
            plan.rung.height,
        )?;
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .build();
        let sink = gst_app::AppSink::builder()
            .name(format!("sink-{name}"))
            .caps(&caps)
            .sync(false)
            .property("enable-last-sample", false)
            .build();
        let output = Output {
            rung: Arc::clone(&plan.output),
            timebase: Arc::clone(&self.spec.shared.timebase),
            log: Arc::clone(&self.spec.shared.log),
            events: self.spec.shared.events.clone(),
        };
        sink.set_callbacks(output.callbacks());
        branch.push(encoder);
        branch.push(sink.upcast());
        Ok(branch)
    }

    /// `videoscale ! capsfilter` from `from` lines (if known) to the rung's
    /// size, square pixels.
    fn scaler(&self, plan: &RungPlan, from: Option<u32>) -> Result<[gst::Element; 2], LadderError> {
        let name = &plan.rung.name;
        let method = self.spec.tuning.scale_for(from, plan.rung.height);
        let scale = gst::ElementFactory::make("videoscale")
            .name(format!("videoscale-{name}"))
            .property_from_str("method", method.gst_nick())
            .property("add-borders", false)
            .build()?;
        let caps = gst::Caps::builder("video/x-raw")
            .field("width", i32::try_from(plan.width).unwrap_or(i32::MAX))
            .field(
                "height",
                i32::try_from(plan.rung.height).unwrap_or(i32::MAX),
            )
            .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
            .build();
        let filter = gst::ElementFactory::make("capsfilter")
            .name(format!("size-{name}"))
            .property("caps", caps)
            .build()?;
        Ok([scale, filter])
    }

    fn queue(&self, name: &str) -> Result<gst::Element, LadderError> {
        Ok(gst::ElementFactory::make("queue")
            .name(format!("queue-{name}"))
            .property("max-size-buffers", self.spec.tuning.queue_frames)
            .property("max-size-bytes", 0u32)
            .property("max-size-time", 0u64)
            .build()?)
    }

    fn make(&self, factory: &str, name: &str) -> Result<gst::Element, LadderError> {
        Ok(gst::ElementFactory::make(factory).name(name).build()?)
    }

    /// Adds `chain` to the pipeline, linked in order after `feed`.
    fn add_linked(&self, feed: &gst::Element, chain: &[gst::Element]) -> Result<(), LadderError> {
        self.pipeline.add_many(chain)?;
        gst::Element::link_many(std::iter::once(feed).chain(chain))?;
        Ok(())
    }
}
