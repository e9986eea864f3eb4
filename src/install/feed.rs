//! Turning download events into the unpacker's feed: layers go to the
//! unpacker in image order, the next one while it still downloads (the
//! unpacker follows the growing file), later ones once they are cached.

use crate::registry::{LayerEvent, LayerSink};
use crate::unpack::job::{Feed, Layer};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::Mutex;

/// Shared by the download tasks; see [`Sequencer::event`].
pub(super) struct Sequencer {
    state: Mutex<State>,
}

struct State {
    tx: Sender<Feed>,
    layers: Vec<Layer>,
    sizes: Vec<u64>,
    /// The first layer not yet handed over completely.
    next: usize,
    cached: Vec<bool>,
    /// Layer `next` is being streamed: the unpacker was told this much.
    streaming: Option<u64>,
    /// Where layer `next` is downloading, and how far it got.
    partial: Option<(PathBuf, u64)>,
    /// The unpacker is gone (it failed or finished).
    gone: bool,
}

impl Sequencer {
    pub(super) fn new(tx: Sender<Feed>, layers: Vec<Layer>, sizes: Vec<u64>) -> Self {
        let n = layers.len();
        let state = State {
            tx,
            layers,
            sizes,
            next: 0,
            cached: vec![false; n],
            streaming: None,
            partial: None,
            gone: false,
        };
        let seq = Self {
            state: Mutex::new(state),
        };
        if n == 0 {
            seq.lock().send(Feed::End);
        }
        seq
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LayerSink for Sequencer {
    /// Feeds what the event makes ready. `false` once the downloads can
    /// stop: the unpacker is gone and no unverified layer was handed to it
    /// (when one was, its download must still finish, so a corrupt blob is
    /// reported as such rather than as whatever the unpacker made of it).
    fn event(&self, ev: LayerEvent<'_>) -> bool {
        let mut s = self.lock();
        match ev {
            LayerEvent::Growing {
                index,
                partial,
                written,
            } => {
                if index == s.next && !s.gone {
                    s.partial = Some((partial.to_path_buf(), written));
                    s.stream();
                }
                true
            }
            LayerEvent::Cached { index } => {
                s.cached[index] = true;
                s.advance();
                !(s.gone && s.streaming.is_none())
            }
        }
    }
}

impl State {
    fn send(&mut self, feed: Feed) {
        if !self.gone && self.tx.send(feed).is_err() {
            self.gone = true;
        }
    }

    /// Hands over every cached layer in order, then starts or continues
    /// streaming the next one if it is downloading.
    fn advance(&mut self) {
        while self.next < self.layers.len() && self.cached[self.next] {
            let i = self.next;
            match self.streaming.take() {
                Some(_) => self.send(Feed::Verified {
                    size: self.sizes[i],
                }),
                None => self.send(Feed::Layer {
                    layer: self.layers[i].clone(),
                }),
            }
            self.partial = None;
            self.next += 1;
            if self.next == self.layers.len() {
                self.send(Feed::End);
            }
        }
    }

    fn stream(&mut self) {
        let Some((path, written)) = self.partial.clone() else {
            return;
        };
        match self.streaming {
            None => {
                let layer = self.layers[self.next].clone();
                self.send(Feed::Stream {
                    layer,
                    partial: path,
                    available: written,
                });
            }
            Some(told) if written > told => self.send(Feed::Grow { available: written }),
            Some(_) => return,
        }
        if !self.gone {
            self.streaming = Some(written);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::job::Source;
    use std::path::Path;
    use std::sync::mpsc::channel;

    fn layer(i: usize) -> Layer {
        Layer {
            source: Source::Path {
                path: PathBuf::from(format!("/cache/l{i}")),
            },
            digest: None,
            oci: true,
            strip: 0,
            into: None,
            owner: None,
            label: format!("layer {i}"),
            size: None,
            diff_id: None,
        }
    }

    fn kinds(rx: &std::sync::mpsc::Receiver<Feed>) -> Vec<String> {
        rx.try_iter()
            .map(|f| match f {
                Feed::Layer { layer } => format!("layer {}", &layer.label[6..]),
                Feed::Stream {
                    layer, available, ..
                } => format!("stream {} {available}", &layer.label[6..]),
                Feed::Grow { available } => format!("grow {available}"),
                Feed::Verified { size } => format!("verified {size}"),
                Feed::End => "end".into(),
                Feed::Abort { .. } => "abort".into(),
                Feed::Snapshot | Feed::WriteLayer { .. } => "build request".into(),
            })
            .collect()
    }

    fn grow(seq: &Sequencer, index: usize, written: u64) -> bool {
        seq.event(LayerEvent::Growing {
            index,
            partial: Path::new("/cache/.partial"),
            written,
        })
    }

    #[test]
    fn the_next_layer_streams_later_ones_wait_for_the_cache() {
        let (tx, rx) = channel();
        let seq = Sequencer::new(tx, vec![layer(0), layer(1), layer(2)], vec![10, 20, 30]);
        grow(&seq, 1, 5); // not next: nothing yet
        grow(&seq, 0, 4);
        grow(&seq, 0, 10);
        assert!(seq.event(LayerEvent::Cached { index: 1 }));
        assert_eq!(kinds(&rx), ["stream 0 4", "grow 10"]);
        assert!(seq.event(LayerEvent::Cached { index: 0 }));
        assert_eq!(kinds(&rx), ["verified 10", "layer 1"]);
        grow(&seq, 2, 30);
        assert!(seq.event(LayerEvent::Cached { index: 2 }));
        assert_eq!(kinds(&rx), ["stream 2 30", "verified 30", "end"]);
    }

    #[test]
    fn cached_layers_go_in_order_and_an_empty_image_ends_at_once() {
        let (tx, rx) = channel();
        let seq = Sequencer::new(tx, vec![layer(0), layer(1)], vec![1, 2]);
        assert!(seq.event(LayerEvent::Cached { index: 1 }));
        assert!(kinds(&rx).is_empty());
        assert!(seq.event(LayerEvent::Cached { index: 0 }));
        assert_eq!(kinds(&rx), ["layer 0", "layer 1", "end"]);
        let (tx, rx) = channel();
        let _seq = Sequencer::new(tx, vec![], vec![]);
        assert_eq!(kinds(&rx), ["end"]);
    }

    #[test]
    fn a_gone_unpacker_stops_downloads_once_its_stream_is_verified() {
        let (tx, rx) = channel();
        let seq = Sequencer::new(tx, vec![layer(0), layer(1), layer(2)], vec![5, 2, 3]);
        grow(&seq, 0, 1);
        drop(rx);
        // The send fails: the unpacker is gone.
        grow(&seq, 0, 3);
        // Layer 1 finishing first must not stop the stream's download.
        assert!(seq.event(LayerEvent::Cached { index: 1 }));
        // The streamed layer is verified (or its error reported): stop.
        assert!(!seq.event(LayerEvent::Cached { index: 0 }));
    }
}
