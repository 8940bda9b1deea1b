//! Topic names of the AWS IoT Jobs and MQTT-based file delivery APIs.
//!
//! The [`Cloud`](crate::Cloud) parses these on input and builds them on output; harnesses use the
//! builders to publish as a device would and [`thing_of`] to route what the cloud publishes.

/// `$aws/things/<thing>/jobs/notify-next`: the next pending execution changed.
pub fn notify_next(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/notify-next")
}

/// `$aws/things/<thing>/jobs/notify`: the list of pending executions changed.
pub fn notify(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/notify")
}

/// `$aws/things/<thing>/jobs/$next/get`: DescribeJobExecution for the next pending execution.
pub fn next_get(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/$next/get")
}

/// `$aws/things/<thing>/jobs/<job>/get`: DescribeJobExecution.
pub fn job_get(thing: &str, job_id: &str) -> String {
    format!("$aws/things/{thing}/jobs/{job_id}/get")
}

/// `$aws/things/<thing>/jobs/<job>/update`: UpdateJobExecution.
pub fn job_update(thing: &str, job_id: &str) -> String {
    format!("$aws/things/{thing}/jobs/{job_id}/update")
}

/// `$aws/things/<thing>/jobs/get`: GetPendingJobExecutions.
pub fn pending_get(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/get")
}

/// `$aws/things/<thing>/jobs/start-next`: StartNextPendingJobExecution.
pub fn start_next(thing: &str) -> String {
    format!("$aws/things/{thing}/jobs/start-next")
}

/// `<request>/accepted`: the reply topic of an accepted Jobs request.
pub fn accepted(request_topic: &str) -> String {
    format!("{request_topic}/accepted")
}

/// `<request>/rejected`: the reply topic of a rejected Jobs request.
pub fn rejected(request_topic: &str) -> String {
    format!("{request_topic}/rejected")
}

/// The wire format of an MQTT file-delivery exchange (the last topic level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamFormat {
    /// `.../cbor`: CBOR maps, binary fields as byte strings.
    Cbor,
    /// `.../json`: JSON objects, binary fields as base64 strings.
    Json,
}

impl StreamFormat {
    /// `"cbor"` or `"json"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cbor => "cbor",
            Self::Json => "json",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "cbor" => Some(Self::Cbor),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// `$aws/things/<thing>/streams/<stream>/get/<fmt>`: GetStream request.
pub fn stream_get(thing: &str, stream_id: &str, format: StreamFormat) -> String {
    format!(
        "$aws/things/{thing}/streams/{stream_id}/get/{}",
        format.as_str()
    )
}

/// `$aws/things/<thing>/streams/<stream>/data/<fmt>`: data blocks.
pub fn stream_data(thing: &str, stream_id: &str, format: StreamFormat) -> String {
    format!(
        "$aws/things/{thing}/streams/{stream_id}/data/{}",
        format.as_str()
    )
}

/// `$aws/things/<thing>/streams/<stream>/rejected/<fmt>`: stream errors.
pub fn stream_rejected(thing: &str, stream_id: &str, format: StreamFormat) -> String {
    format!(
        "$aws/things/{thing}/streams/{stream_id}/rejected/{}",
        format.as_str()
    )
}

/// `$aws/things/<thing>/streams/<stream>/describe/<fmt>`: DescribeStream request.
pub fn stream_describe(thing: &str, stream_id: &str, format: StreamFormat) -> String {
    format!(
        "$aws/things/{thing}/streams/{stream_id}/describe/{}",
        format.as_str()
    )
}

/// `$aws/things/<thing>/streams/<stream>/description/<fmt>`: DescribeStream response.
pub fn stream_description(thing: &str, stream_id: &str, format: StreamFormat) -> String {
    format!(
        "$aws/things/{thing}/streams/{stream_id}/description/{}",
        format.as_str()
    )
}

/// The thing name of any `$aws/things/<thing>/...` topic.
pub fn thing_of(topic: &str) -> Option<&str> {
    let rest = topic.strip_prefix("$aws/things/")?;
    let (thing, _) = rest.split_once('/')?;
    (!thing.is_empty()).then_some(thing)
}

/// A parsed device-to-cloud topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// A Jobs topic: thing, and the levels after `jobs/`.
    Jobs { thing: &'a str, rest: &'a str },
    /// A stream request.
    Stream {
        thing: &'a str,
        stream: &'a str,
        op: StreamOp,
        format: StreamFormat,
    },
    /// A `$aws/things/...` topic under streams/ that maps to no request.
    BadStream { thing: &'a str },
    /// Anything else.
    Other,
}

/// What a stream topic asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamOp {
    Get,
    Describe,
    /// The cloud's own output topics (data, description, rejected): never answered.
    Output,
}

pub(crate) fn parse(topic: &str) -> Parsed<'_> {
    let Some(rest) = topic.strip_prefix("$aws/things/") else {
        return Parsed::Other;
    };
    let Some((thing, rest)) = rest.split_once('/') else {
        return Parsed::Other;
    };
    if thing.is_empty() {
        return Parsed::Other;
    }
    if let Some(rest) = rest.strip_prefix("jobs/") {
        return Parsed::Jobs { thing, rest };
    }
    let Some(rest) = rest.strip_prefix("streams/") else {
        return Parsed::Other;
    };
    let mut levels = rest.split('/');
    let (Some(stream), Some(op), Some(fmt), None) =
        (levels.next(), levels.next(), levels.next(), levels.next())
    else {
        return Parsed::BadStream { thing };
    };
    let Some(format) = StreamFormat::parse(fmt) else {
        return Parsed::BadStream { thing };
    };
    let op = match op {
        "get" => StreamOp::Get,
        "describe" => StreamOp::Describe,
        "data" | "description" | "rejected" => StreamOp::Output,
        _ => return Parsed::BadStream { thing },
    };
    if stream.is_empty() {
        return Parsed::BadStream { thing };
    }
    Parsed::Stream {
        thing,
        stream,
        op,
        format,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses() {
        assert_eq!(next_get("t1"), "$aws/things/t1/jobs/$next/get");
        assert_eq!(
            stream_get("t1", "s", StreamFormat::Cbor),
            "$aws/things/t1/streams/s/get/cbor"
        );
        assert_eq!(thing_of("$aws/things/t1/jobs/notify-next"), Some("t1"));
        assert_eq!(thing_of("other/t1"), None);
        assert_eq!(
            parse("$aws/things/t1/jobs/j/update"),
            Parsed::Jobs {
                thing: "t1",
                rest: "j/update"
            }
        );
        assert_eq!(
            parse("$aws/things/t1/streams/s/get/json"),
            Parsed::Stream {
                thing: "t1",
                stream: "s",
                op: StreamOp::Get,
                format: StreamFormat::Json
            }
        );
        assert_eq!(
            parse("$aws/things/t1/streams/s/get/xml"),
            Parsed::BadStream { thing: "t1" }
        );
        assert_eq!(parse("$aws/things//jobs/x"), Parsed::Other);
        assert_eq!(parse("sensors/t1"), Parsed::Other);
    }
}
