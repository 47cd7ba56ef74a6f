//! The demo's terminal: every event as the receiver hands it to its pipeline, one line
//! each (`<-`), alerts and resolves (`!!`) and reports (`##`) followed by the event
//! itself, the JSON a Logstash pipeline gets (less the fields every event has:
//! `@metadata`, `agent`, `ecs`, `host`).

use tokio::sync::mpsc;

use crate::receive::ReceivedBatch;

pub async fn batches(mut rx: mpsc::Receiver<ReceivedBatch>) {
    while let Some(batch) = rx.recv().await {
        for event in &batch.events {
            let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(event) else {
                continue;
            };
            println!("{}", line(&v));
            if matches!(v["event"]["kind"].as_str(), Some("alert" | "metric"))
                && let Some(fields) = v.as_object_mut()
            {
                for common in ["@metadata", "agent", "ecs", "host"] {
                    fields.remove(common);
                }
                println!("   {v}");
            }
        }
        println!("   acked batch of {} event(s)", batch.events.len());
    }
}

fn line(v: &serde_json::Value) -> String {
    let time = v["@timestamp"].as_str().unwrap_or("?");
    let message = v["message"].as_str().unwrap_or("");
    match v["event"]["kind"].as_str() {
        Some("alert") => {
            let state = v["lumberwatch"]["alert"]["state"].as_str().unwrap_or("?");
            let label = if state == "resolved" {
                "RESOLVED"
            } else {
                "ALERT"
            };
            let rule = v["rule"]["name"].as_str().unwrap_or("?");
            format!("!! {time}  {label:<8} {rule}: {message}")
        }
        Some("metric") => format!("## {time}  REPORT   {message}"),
        _ => {
            let input = v["input"]["type"].as_str().unwrap_or("?");
            let from = v["log"]["source"]["address"]
                .as_str()
                .or(v["log"]["file"]["path"].as_str())
                .unwrap_or("?");
            let from = from.rsplit('/').next().unwrap_or(from);
            let short: String = message.chars().take(72).collect();
            format!("<- {time}  [{input}] {from}: {short}...")
        }
    }
}
