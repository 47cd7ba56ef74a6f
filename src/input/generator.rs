//! `type: generator`: synthetic events, like Logstash's generator input, for demos,
//! benchmarks and trying a pipeline. Each event carries `event.sequence` (1, 2, ...).

use std::fmt::Write;
use std::time::Duration;

use tokio::time::Instant;

use super::{Outlet, QueueClosed};
use crate::event::EventTemplate;

pub struct Generator {
    /// 0 = unbounded.
    pub count: u64,
    /// Default "Hello world! {n}".
    pub message: Option<String>,
    /// 0 = as fast as the queue accepts.
    pub rate_per_sec: u64,
}

impl Generator {
    pub async fn run(
        &self,
        template: &mut EventTemplate,
        queue: &Outlet,
    ) -> Result<u64, QueueClosed> {
        let start = Instant::now();
        let mut n = 0u64;
        while self.count == 0 || n < self.count {
            n += 1;
            if self.rate_per_sec > 0 {
                let due = start + Duration::from_secs_f64(n as f64 / self.rate_per_sec as f64);
                tokio::time::sleep_until(due).await;
            }
            let default;
            let message = match &self.message {
                Some(m) => m.as_str(),
                None => {
                    default = format!("Hello world! {n}");
                    &default
                }
            };
            let event = template.event(message, |b| {
                write!(b, ",\"event\":{{\"sequence\":{n}}}")
                    .expect("writing to memory cannot fail");
            });
            queue.send(event).await?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AgentInfo, EventShape};

    #[tokio::test]
    async fn generates_count_numbered_events() {
        let mut template =
            EventTemplate::new(&AgentInfo::new("lumberwatch", None), &EventShape::default());
        let (tx, mut rx) = crate::queue::mem::channel(16);
        let tx = Outlet::new(tx, Default::default());
        let g = Generator {
            count: 3,
            message: None,
            rate_per_sec: 0,
        };
        assert_eq!(g.run(&mut template, &tx).await.unwrap(), 3);
        for n in 1..=3u64 {
            let v: serde_json::Value =
                serde_json::from_slice(&rx.recv().await.unwrap().json).unwrap();
            assert_eq!(v["event"]["sequence"], n);
            assert_eq!(v["message"], format!("Hello world! {n}"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_in_simulated_time() {
        let mut template =
            EventTemplate::new(&AgentInfo::new("lumberwatch", None), &EventShape::default());
        let (tx, _rx) = crate::queue::mem::channel(1000);
        let tx = Outlet::new(tx, Default::default());
        let start = Instant::now();
        Generator {
            count: 100,
            message: Some("x".into()),
            rate_per_sec: 50,
        }
        .run(&mut template, &tx)
        .await
        .unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
