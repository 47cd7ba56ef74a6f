//! YAML into a `serde_json::Value` (mappings, sequences, scalars as strings) for the
//! compose file's checks, on the YAML parser the config loader uses. No anchors.

use saphyr_parser::{Event, Parser};
use serde_json::{Map, Value};

pub fn parse(text: &str) -> Value {
    let mut events = Parser::new_from_str(text).map(|e| e.expect("valid YAML").0);
    assert!(matches!(events.next(), Some(Event::StreamStart)));
    assert!(matches!(events.next(), Some(Event::DocumentStart(_))));
    let first = events.next().expect("a document");
    node(first, &mut events)
}

fn node<'a>(event: Event<'a>, events: &mut impl Iterator<Item = Event<'a>>) -> Value {
    match event {
        Event::Scalar(text, ..) => Value::String(text.into_owned()),
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                match events.next().expect("a sequence ends") {
                    Event::SequenceEnd => return Value::Array(items),
                    item => items.push(node(item, events)),
                }
            }
        }
        Event::MappingStart(..) => {
            let mut map = Map::new();
            loop {
                let key = match events.next().expect("a mapping ends") {
                    Event::MappingEnd => return Value::Object(map),
                    Event::Scalar(key, ..) => key.into_owned(),
                    other => panic!("a non-scalar key: {other:?}"),
                };
                let value = events.next().expect("a value");
                let value = node(value, events);
                assert!(map.insert(key.clone(), value).is_none(), "{key} twice");
            }
        }
        other => panic!("unexpected YAML event {other:?}"),
    }
}
