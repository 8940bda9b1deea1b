//! The Jobs codecs against the AWS C SDKs' job-document vectors
//! (`shared/research/vectors/*.json`), plus property tests for `json`, `job` and `status`.
//!
//! Every vector is named in its assertion messages. Where our rules deliberately differ from
//! the C SDK's, the expectation asserts our behaviour and a comment says why.

use ota_core::codec::job::{
    self, ExecutionStatus, FileSpec, JobDocument, JobError, JobResponse, MAX_FILES, OtaJob,
    Protocols, SelfTestMark,
};
use ota_core::codec::json::{self, JsonError, RawStr};
use ota_core::codec::status::{self, EncodeError, StatusUpdate};
use proptest::prelude::*;
use serde_json::Value as J;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------------------
// Loading

fn vectors_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/research/vectors");
    assert!(
        dir.is_dir(),
        "job-document vectors not found: looked for the directory {} (the team's shared/research/vectors, \
         expected two levels above the ota-core crate)",
        dir.display()
    );
    dir
}

fn load(file: &str) -> J {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn text(r: RawStr<'_>) -> String {
    let mut buf = vec![0u8; r.unescaped_len()];
    let n = r.unescape_into(&mut buf).expect("unescape");
    assert_eq!(n, buf.len());
    String::from_utf8(buf).expect("utf-8")
}

fn opt_text(r: Option<RawStr<'_>>) -> Option<String> {
    r.map(text)
}

// ---------------------------------------------------------------------------------------------
// Expected values

/// What one file of an accepted document must hold.
#[derive(Debug, Clone, PartialEq)]
struct ExpFile {
    path: Option<&'static str>,
    size: u32,
    id: u32,
    cert: Option<&'static str>,
    url: Option<&'static str>,
    auth: Option<&'static str>,
    sig: Option<&'static str>,
    file_type: u32,
    attr: Option<u32>,
}

impl ExpFile {
    fn matches(&self, name: &str, index: usize, f: &FileSpec<'_>) {
        let got = (
            opt_text(f.file_path),
            f.file_size,
            f.file_id,
            opt_text(f.cert_file),
            opt_text(f.update_data_url),
            opt_text(f.auth_scheme),
            opt_text(f.signature),
            f.file_type,
            f.attr,
        );
        let want = (
            self.path.map(String::from),
            self.size,
            self.id,
            self.cert.map(String::from),
            self.url.map(String::from),
            self.auth.map(String::from),
            self.sig.map(String::from),
            self.file_type,
            self.attr,
        );
        assert_eq!(got, want, "vector {name}: file {index}");
    }
}

const SIG_A: &str = "MEQCIF2QDvww1G/kpRGZ8FYvQrok1bSZvXjXefRk7sqNcyPTAiB4dvGt8fozIY5NC0vUDJ2MY42ZERYEcrbwA4n6q7vrBg==";

/// `files[0]` of the ota_utest.c `JOB_DOC_A` family.
fn v3_file() -> ExpFile {
    ExpFile {
        path: Some("/test/demo"),
        size: 10240,
        id: 0,
        cert: Some("test.crt"),
        url: None,
        auth: None,
        sig: Some(SIG_A),
        file_type: 0,
        attr: None,
    }
}

/// An accepted `afr_ota` document.
#[derive(Debug, Clone)]
struct ExpJob {
    protocols: Protocols,
    stream: Option<&'static str>,
    files: Vec<ExpFile>,
}

impl ExpJob {
    fn matches(&self, name: &str, job: &OtaJob<'_>) {
        assert_eq!(job.protocols, self.protocols, "vector {name}: protocols");
        assert_eq!(job.stream_name, self.stream, "vector {name}: streamname");
        assert_eq!(
            job.file_count,
            self.files.len(),
            "vector {name}: file count"
        );
        for (i, want) in self.files.iter().enumerate() {
            let f = job
                .file(i)
                .unwrap_or_else(|e| panic!("vector {name}: file {i} of an accepted job: {e}"));
            want.matches(name, i, &f);
        }
        assert_eq!(
            job.file(self.files.len()),
            Err(JobError::BadFileCount),
            "vector {name}: file past the end"
        );
    }
}

const MQTT: Protocols = Protocols {
    mqtt: true,
    http: false,
    http_first: false,
};
const HTTP: Protocols = Protocols {
    mqtt: false,
    http: true,
    http_first: false,
};

fn mqtt_v3(files: Vec<ExpFile>) -> ExpJob {
    ExpJob {
        protocols: MQTT,
        stream: Some("AFR_OTA-XYZ"),
        files,
    }
}

// ---------------------------------------------------------------------------------------------
// ota-for-aws-iot-embedded-sdk v3 (ota_utest.c): whole Jobs responses

/// The execution part of an accepted response.
#[derive(Debug, Clone)]
struct ExpExecution {
    job_id: &'static str,
    status: ExecutionStatus,
    self_test: Option<SelfTestMark>,
    updated_by: Option<u32>,
}

enum V3 {
    /// `Ok`, no execution.
    NoJob,
    /// `parse_job_response` fails.
    BadResponse(JobError),
    /// The response is accepted but carries no job document.
    NoDocument(ExpExecution),
    /// The response is accepted; `parse_job_document` fails.
    BadDocument(ExpExecution, JobError),
    /// Both accepted.
    Ota(ExpExecution, ExpJob),
}

fn queued(job_id: &'static str) -> ExpExecution {
    ExpExecution {
        job_id,
        status: ExecutionStatus::Queued,
        self_test: None,
        updated_by: None,
    }
}

fn self_test(updated_by: u32) -> ExpExecution {
    ExpExecution {
        job_id: "AFR_OTA-testjob20",
        status: ExecutionStatus::InProgress,
        self_test: Some(SelfTestMark::Ready),
        updated_by: Some(updated_by),
    }
}

fn v3_expectation(name: &str) -> V3 {
    let a = || queued("AFR_OTA-testjob20");
    match name {
        "JOB_DOC_EMPTY" => V3::NoJob,
        "JOB_DOC_A" => V3::Ota(a(), mqtt_v3(vec![v3_file()])),
        "JOB_DOC_B" => V3::Ota(queued("AFR_OTA-testjob21"), mqtt_v3(vec![v3_file()])),
        "JOB_DOC_SELF_TEST" => V3::Ota(self_test(0x0100_0000), mqtt_v3(vec![v3_file()])),
        "JOB_DOC_SELF_TEST_FILE_TYPE" => V3::Ota(
            self_test(0x0100_0000),
            mqtt_v3(vec![ExpFile {
                file_type: 255,
                ..v3_file()
            }]),
        ),
        "JOB_DOC_SELF_TEST_SAME_VERSION" => {
            V3::Ota(self_test(0x0100_0001), mqtt_v3(vec![v3_file()]))
        }
        "JOB_DOC_SELF_TEST_DOWNGRADE" => V3::Ota(self_test(0x0200_0000), mqtt_v3(vec![v3_file()])),
        "JOB_DOC_SERVERFILE_ID" => V3::Ota(
            self_test(0x0100_0000),
            mqtt_v3(vec![ExpFile { id: 1, ..v3_file() }]),
        ),
        "JOB_DOC_DIFFERENT_FILE_TYPE" => V3::Ota(
            a(),
            mqtt_v3(vec![ExpFile {
                file_type: 2,
                ..v3_file()
            }]),
        ),
        "JOB_DOC_HTTP" | "JOB_DOC_ONE_BLOCK" => V3::Ota(
            queued("AFR_OTA-testjob22"),
            ExpJob {
                protocols: HTTP,
                stream: None,
                files: vec![ExpFile {
                    // JOB_DOC_ONE_BLOCK sends `"filesize": "1024"`, a string: accepted, like the C agent
                    size: if name == "JOB_DOC_ONE_BLOCK" {
                        1024
                    } else {
                        10240
                    },
                    url: Some("https://dummy-url.com/ota.bin"),
                    auth: Some("aws.s3.presigned"),
                    ..v3_file()
                }],
            },
        ),
        // "not a json": `n` starts `null`, the mismatch is at byte 1
        "JOB_DOC_INVALID" => V3::BadResponse(JobError::Json(JsonError::Syntax { at: 1 })),
        // Differs: the C parser accepts ["XYZ"] and fails later choosing a data interface; we
        // refuse at parse time, so the agent reports FAILED with a parse reason right away.
        "JOB_DOC_INVALID_PROTOCOL" => V3::BadDocument(a(), JobError::NoKnownProtocol),
        // Differs: the parser keeps the signature undecoded; "Zg===" is refused when the agent
        // decodes it (codec::base64) before downloading, not here.
        "JOB_DOC_INVALID_BASE64_KEY" => V3::Ota(
            a(),
            mqtt_v3(vec![ExpFile {
                sig: Some("Zg==="),
                ..v3_file()
            }]),
        ),
        "JOB_DOC_MISSING_KEY" => V3::BadDocument(a(), JobError::Missing("filesize")),
        // filesize is checked before fileid, so the first error names filesize
        "JOB_DOC_INVALID_NUMBER_NAN" => V3::BadDocument(a(), JobError::BadNumber("filesize")),
        "JOB_DOC_INVALID_NUMBER_VAL" => V3::BadDocument(a(), JobError::BadNumber("filesize")),
        // Differs: 4294963220 fits in u32, so the parser accepts it; the C limit
        // (UINT32_MAX - block size + 1) comes from its block arithmetic, and the agent checks
        // the size against its bitmap / flash capacity instead.
        "JOB_DOC_FILESIZE_OVERFLOW" => V3::Ota(
            a(),
            mqtt_v3(vec![ExpFile {
                size: 4_294_963_220,
                ..v3_file()
            }]),
        ),
        // Differs: the C agent drops the response; we keep the execution (valid jobId, no
        // document) so the agent can report the job FAILED instead of ignoring it.
        "JOB_DOC_MISSING_JOB_DOC" => V3::NoDocument(a()),
        "JOB_DOC_MISSING_JOB_ID" => V3::BadResponse(JobError::Missing("jobId")),
        "JOB_DOC_INVALID_JOB_ID" => V3::BadResponse(JobError::BadJobId),
        // Our limit is the AWS one (64), not the C agent's 72: 73 characters fail in both.
        "JOB_DOC_INVALID_JOB_ID_LEN_MAX" => V3::BadResponse(JobError::BadJobId),
        other => panic!("vector {other}: no expectation written for it (new vector in the file?)"),
    }
}

fn check_execution(name: &str, resp: &JobResponse<'_>, want: &ExpExecution) {
    let ex = resp
        .execution
        .unwrap_or_else(|| panic!("vector {name}: no execution"));
    assert_eq!(ex.job_id, want.job_id, "vector {name}: jobId");
    assert_eq!(ex.status, Some(want.status), "vector {name}: status");
    assert_eq!(
        ex.status_details.self_test, want.self_test,
        "vector {name}: self_test"
    );
    assert_eq!(
        ex.status_details.updated_by, want.updated_by,
        "vector {name}: updatedBy"
    );
    assert_eq!(ex.version_number, Some(1), "vector {name}: versionNumber");
    assert_eq!(
        ex.execution_number,
        Some(1),
        "vector {name}: executionNumber"
    );
    assert!(
        resp.client_token.is_some_and(|t| t.eq_str("0:testclient")),
        "vector {name}: clientToken"
    );
    assert_eq!(
        resp.timestamp,
        Some(1_602_795_143),
        "vector {name}: timestamp"
    );
}

#[test]
fn ota_sdk_v3_job_documents() {
    let file = load("ota-sdk-v3-job-documents.json");
    let vectors = file["vectors"].as_array().expect("`vectors` array");
    assert_eq!(
        vectors.len(),
        22,
        "ota-sdk-v3-job-documents.json: vector count"
    );
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let doc = v["document"].as_str().expect("document").as_bytes();

        // our JSON validator agrees with the file's `is_valid_json` and with serde_json
        let valid = v["is_valid_json"].as_bool().expect("is_valid_json");
        assert_eq!(
            json::parse(doc).is_ok(),
            valid,
            "vector {name}: json::parse"
        );
        assert_eq!(
            serde_json::from_slice::<J>(doc).is_ok(),
            valid,
            "vector {name}: serde_json"
        );

        let result = job::parse_job_response(doc);
        match v3_expectation(name) {
            V3::NoJob => {
                let resp = result.unwrap_or_else(|e| panic!("vector {name}: {e}"));
                assert_eq!(resp.execution, None, "vector {name}: execution");
                assert!(
                    resp.client_token.is_some_and(|t| t.eq_str("0:testclient")),
                    "vector {name}: clientToken"
                );
            }
            V3::BadResponse(e) => assert_eq!(result, Err(e), "vector {name}"),
            V3::NoDocument(want) => {
                let resp = result.unwrap_or_else(|e| panic!("vector {name}: {e}"));
                check_execution(name, &resp, &want);
                assert_eq!(
                    resp.execution.and_then(|x| x.job_document),
                    None,
                    "vector {name}: jobDocument"
                );
            }
            V3::BadDocument(want, e) => {
                let resp = result.unwrap_or_else(|e| panic!("vector {name}: {e}"));
                check_execution(name, &resp, &want);
                let obj = resp
                    .execution
                    .and_then(|x| x.job_document)
                    .expect("jobDocument");
                assert_eq!(job::parse_job_document(obj), Err(e), "vector {name}");
            }
            V3::Ota(want, want_job) => {
                let resp = result.unwrap_or_else(|e| panic!("vector {name}: {e}"));
                check_execution(name, &resp, &want);
                if let Some(len) = v["jobId_length"].as_u64() {
                    assert_eq!(want.job_id.len() as u64, len, "vector {name}: jobId_length");
                }
                let obj = resp
                    .execution
                    .and_then(|x| x.job_document)
                    .expect("jobDocument");
                match job::parse_job_document(obj) {
                    Ok(JobDocument::Ota(o)) => want_job.matches(name, &o),
                    other => panic!("vector {name}: expected an OTA job, got {other:?}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs-for-AWS-IoT-embedded-sdk (job_parser_utest.c): `jobDocument` objects

enum Sdk {
    Ota(ExpJob),
    Bad(JobError),
}

fn sdk_file(
    path: &'static str,
    size: u32,
    id: u32,
    cert: &'static str,
    sig: &'static str,
) -> ExpFile {
    ExpFile {
        path: Some(path),
        size,
        id,
        cert: Some(cert),
        url: None,
        auth: None,
        sig: Some(sig),
        file_type: 0,
        attr: None,
    }
}

/// `files[0]` of the Jobs-SDK HTTP documents.
fn sdk_http_file() -> ExpFile {
    ExpFile {
        url: Some("presignedS3Url.s3.amazon.com"),
        auth: Some("aws.s3.presigned"),
        ..sdk_file(
            "/device",
            343_135,
            0,
            "/strangepath/certificate.cert",
            "SIGNATUREHASH+ASDFLKJ123===",
        )
    }
}

/// `files[0]` of the Jobs-SDK documents signed `MEYCIQCV...`.
fn sdk_meyc_file() -> ExpFile {
    sdk_file(
        "/device",
        20417,
        0,
        "/strangepath/certificate.cert",
        "MEYCIQCVWi3ki1d9fqa1vrRS3dyDE7qJv4Dl1guB9qBzvTz7AgIhAIdTm0MeZa2aHpHZnKQERLFpI69ii3GUhycQBOVqqP3N",
    )
}

fn sdk_streamname_file() -> ExpFile {
    sdk_file(
        "/device",
        123_456_789,
        0,
        "certfile.cert",
        "signature_hash_239871",
    )
}

const STREAM_LONG: &str = "AFR_OTA-d66ffc3b-4325-4496-9358-509f8f3504d1";
const MULTI: Protocols = Protocols {
    mqtt: true,
    http: true,
    http_first: false,
};
const MULTI_HTTP_FIRST: Protocols = Protocols {
    mqtt: true,
    http: true,
    http_first: true,
};

/// Our outcome for each Jobs-SDK vector, and whether it deliberately differs from the C result.
fn sdk_expectation(test: &str) -> (Sdk, bool) {
    let multi_protocol = |protocols| {
        Sdk::Ota(ExpJob {
            protocols,
            stream: Some("AFR_OTA-streamname"),
            files: vec![ExpFile {
                file_type: 66,
                url: Some("unusedurl.s3.amazon.com"),
                auth: Some("aws.s3.presigned"),
                ..sdk_streamname_file()
            }],
        })
    };
    let mqtt_streamname = || {
        Sdk::Ota(ExpJob {
            protocols: MQTT,
            stream: Some("AFR_OTA-streamname"),
            files: vec![sdk_streamname_file()],
        })
    };
    match test {
        // The C parser reports an absent fileType as UINT32_MAX; ours defaults it to 0 (the
        // firmware type), as the v3 agent does.
        "test_populateJobDocFields_returnsTrue_givenValidMqttDocument" => {
            (mqtt_streamname(), false)
        }
        "test_populateJobDocFields_returnsTrue_givenValidMqttDocumentWithOptionalFields" => (
            Sdk::Ota(ExpJob {
                protocols: MQTT,
                stream: Some("AFR_OTA-streamname"),
                files: vec![ExpFile {
                    file_type: 1234,
                    ..sdk_streamname_file()
                }],
            }),
            false,
        ),
        "test_populateJobDocFields_returnsTrue_givenValidMultiFileMqttDocument" => (
            Sdk::Ota(ExpJob {
                protocols: MQTT,
                stream: Some("AFR_OTA-streamname"),
                files: vec![
                    sdk_file(
                        "/path1",
                        123_456_789,
                        0,
                        "certfile.cert",
                        "signature_hash_239871",
                    ),
                    sdk_file(
                        "/path2",
                        101_010,
                        13,
                        "certfile2.cert",
                        "signature_hash_101010",
                    ),
                ],
            }),
            false,
        ),
        "test_populateJobDocFields_returnsTrue_givenValidHttpDocument" => (
            Sdk::Ota(ExpJob {
                protocols: HTTP,
                stream: None,
                files: vec![sdk_http_file()],
            }),
            false,
        ),
        "test_populateJobDocFields_returnsTrue_givenValidHttpDocumentWithOptionalFields" => (
            Sdk::Ota(ExpJob {
                protocols: HTTP,
                stream: None,
                files: vec![ExpFile {
                    file_type: 1234,
                    ..sdk_http_file()
                }],
            }),
            false,
        ),
        "test_populateJobDocFields_returnsTrue_givenValidMultiFileHttpDocument" => (
            Sdk::Ota(ExpJob {
                protocols: HTTP,
                stream: None,
                files: vec![
                    ExpFile {
                        file_type: 2,
                        ..sdk_http_file()
                    },
                    ExpFile {
                        path: Some("/path2"),
                        size: 43210,
                        id: 99,
                        cert: Some("/strangepath/file.cert"),
                        file_type: 333,
                        ..sdk_http_file()
                    },
                ],
            }),
            false,
        ),
        // The C parser, asked for MQTT, leaves the auth scheme unset; ours reports every field
        // of the document and leaves the protocol choice to the agent.
        "test_populateJobDocFields_returnsTrue_givenValidMultiProtocolDocument" => {
            (multi_protocol(MULTI), false)
        }
        "test_populateJobDocFields_returnsFalse_givenValidInvalidOptionalFields" => {
            (Sdk::Bad(JobError::BadNumber("fileType")), false)
        }
        "test_populateJobDocFields_returnsFalse_whenEmptyProtocol" => {
            (Sdk::Bad(JobError::NoKnownProtocol), false)
        }
        "test_populateJobDocFields_returnsFalse_whenMissingProtocol" => {
            (Sdk::Bad(JobError::Missing("protocols")), false)
        }
        "test_populateJobDocFields_returnsFalse_whenMissingFilesize" => {
            (Sdk::Bad(JobError::Missing("filesize")), false)
        }
        "test_populateJobDocFields_returnsFalse_whenMissingFileId" => {
            (Sdk::Bad(JobError::Missing("fileid")), false)
        }
        // Differs: filepath is optional, as in the v3 agent's model (CreateOTAUpdate may send "/").
        "test_populateJobDocFields_returnsFalse_whenMissingFilePath" => (
            Sdk::Ota(ExpJob {
                protocols: MQTT,
                stream: Some(STREAM_LONG),
                files: vec![ExpFile {
                    path: None,
                    ..sdk_meyc_file()
                }],
            }),
            true,
        ),
        // Differs: certfile is optional; the agent then uses its default signer key.
        "test_populateJobDocFields_returnsFalse_whenMissingCertfile" => (
            Sdk::Ota(ExpJob {
                protocols: MQTT,
                stream: Some(STREAM_LONG),
                files: vec![ExpFile {
                    cert: None,
                    ..sdk_meyc_file()
                }],
            }),
            true,
        ),
        // Differs: a missing signature is the agent's refusal (before download), not the parser's.
        "test_populateJobDocFields_returnsFalse_whenMissingSignature" => (
            Sdk::Ota(ExpJob {
                protocols: MQTT,
                stream: Some(STREAM_LONG),
                files: vec![ExpFile {
                    sig: None,
                    ..sdk_meyc_file()
                }],
            }),
            true,
        ),
        "test_populateJobDocFields_returnsFalse_whenMqttDocEmptyStreamName" => {
            (Sdk::Bad(JobError::BadStreamName), false)
        }
        // Differs: MQTT delivery needs a streamname, but that is the agent's check when it picks a
        // protocol (an HTTP-only job has none), not the parser's.
        "test_populateJobDocFields_returnsFalse_whenMqttDocMissingStreamName" => (
            Sdk::Ota(ExpJob {
                protocols: MQTT,
                stream: None,
                files: vec![sdk_meyc_file()],
            }),
            true,
        ),
        // Differs (weak vector: the C test asks for MQTT on an HTTP-only document): the parser
        // keeps the empty URL; whether HTTP delivery is usable is the agent's check.
        "test_populateJobDocFields_returnsFalse_whenHttpDocEmptyUrl" => (
            Sdk::Ota(ExpJob {
                protocols: HTTP,
                stream: None,
                files: vec![ExpFile {
                    file_type: 2,
                    url: Some(""),
                    ..sdk_http_file()
                }],
            }),
            true,
        ),
        // Differs (weak vector, MQTT asked of an HTTP-only document): a missing URL is the
        // agent's check when it picks HTTP.
        "test_populateJobDocFields_returnsFalse_whenHttpDocMissingUrl" => (
            Sdk::Ota(ExpJob {
                protocols: HTTP,
                stream: None,
                files: vec![ExpFile {
                    file_type: 2,
                    url: None,
                    sig: Some(
                        "MEQCIGOTD5owb5s3R3+OlxH5UZcy52Vuz6QrJhg83F8t8tBfAiBTNiX0e8RR5JOzHfSqWKq4WJC/xUwMrcdHEWgSAKfGQA==",
                    ),
                    ..sdk_http_file()
                }],
            }),
            true,
        ),
        // Differs (weak vector): auth_scheme is optional; presigned URLs need none.
        "test_populateJobDocFields_returnsFalse_whenHttpDocMissingAuthScheme" => (
            Sdk::Ota(ExpJob {
                protocols: HTTP,
                stream: None,
                files: vec![ExpFile {
                    file_type: 2,
                    url: Some(
                        "${aws:iot:s3-presigned-url:https://s3.region.amazonaws.com/joe-ota/SignedImages/ffdac2a7-0f70-4f47-8940-886ad260445c}",
                    ),
                    auth: None,
                    sig: Some(
                        "MEQCIGOTD5owb5s3R3+OlxH5UZcy52Vuz6QrJhg83F8t8tBfAiBTNiX0e8RR5JOzHfSqWKq4WJC/xUwMrcdHEWgSAKfGQA==",
                    ),
                    ..sdk_http_file()
                }],
            }),
            true,
        ),
        "test_populateJobDocFields_returnsFalse_whenFileSizeIsNegativeInteger" => {
            (Sdk::Bad(JobError::BadNumber("filesize")), false)
        }
        "test_populateJobDocFields_returnsFalse_whenFileSizeZeroLength" => {
            (Sdk::Bad(JobError::BadNumber("filesize")), false)
        }
        "test_populateJobDocFields_returnsFalse_whenFileSizeTooLarge" => {
            (Sdk::Bad(JobError::BadNumber("filesize")), false)
        }
        // Differs: the C test asks for HTTP of an MQTT-only document; the parser only reports
        // what is offered (http: false) and the agent makes the choice.
        "test_populateJobDocFields_returnsFalse_whenProtocolNotInProtocolsList" => {
            (mqtt_streamname(), true)
        }
        "test_populateJobDocFields_returnsTrue_whenProtocolInProtocolsList" => {
            (mqtt_streamname(), false)
        }
        "test_populateJobDocFields_returnsTrue_whenUsingHttpFromMultiProtocolDocument" => {
            (multi_protocol(MULTI), false)
        }
        "test_populateJobDocFields_returnsTrue_whenUsingMqttFromMultiProtocolDocument" => {
            (multi_protocol(MULTI_HTTP_FIRST), false)
        }
        other => panic!("vector {other}: no expectation written for it (new vector in the file?)"),
    }
}

/// `"123456789U"`, `"UINT32_MAX"`... as the C test writes them.
fn c_u32(s: &str) -> u32 {
    if s == "UINT32_MAX" {
        u32::MAX
    } else {
        s.trim_end_matches('U').parse().expect("C literal")
    }
}

#[test]
fn jobs_sdk_afr_ota_parser_documents() {
    let file = load("jobs-sdk-afr-ota-parser-documents.json");
    let vectors = file["vectors"].as_array().expect("`vectors` array");
    assert_eq!(
        vectors.len(),
        27,
        "jobs-sdk-afr-ota-parser-documents.json: vector count"
    );
    for v in vectors {
        let name = v["test"].as_str().expect("test");
        let doc = v["document"].as_str().expect("document").as_bytes();
        let obj = json::parse(doc)
            .unwrap_or_else(|e| panic!("vector {name}: {e}"))
            .as_object()
            .unwrap_or_else(|| panic!("vector {name}: not an object"));
        let result = job::parse_job_document(obj);
        let c_accepts = v["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .all(|c| c["expected_result"] == J::Bool(true));
        let (expected, differs) = sdk_expectation(name);
        match &expected {
            Sdk::Bad(e) => assert_eq!(result, Err(*e), "vector {name}"),
            Sdk::Ota(want) => match result {
                Ok(JobDocument::Ota(o)) => want.matches(name, &o),
                other => panic!("vector {name}: expected an OTA job, got {other:?}"),
            },
        }
        let ours_accepts = matches!(expected, Sdk::Ota(_));
        assert_eq!(
            ours_accepts != c_accepts,
            differs,
            "vector {name}: a difference from the C SDK must be deliberate"
        );

        // The C test's numeric assertions, file by file (a new file starts at each fileSize).
        if let Ok(JobDocument::Ota(o)) = result {
            let mut index = None;
            for field in v["asserted_numeric_fields"]
                .as_array()
                .expect("asserted_numeric_fields")
            {
                let c_value = c_u32(field["expected"].as_str().expect("expected"));
                let which = field["field"].as_str().expect("field");
                if which == "fileSize" {
                    index = Some(index.map_or(0, |i| i + 1));
                }
                let i = index.expect("fileSize first");
                let f = o
                    .file(i)
                    .unwrap_or_else(|e| panic!("vector {name}: file {i}: {e}"));
                match which {
                    "fileSize" => {
                        assert_eq!(f.file_size, c_value, "vector {name}: file {i} fileSize")
                    }
                    "fileId" => assert_eq!(f.file_id, c_value, "vector {name}: file {i} fileId"),
                    // UINT32_MAX is the C parser's "absent"; ours is 0 (see above)
                    "fileType" => {
                        let want = if c_value == u32::MAX { 0 } else { c_value };
                        assert_eq!(f.file_type, want, "vector {name}: file {i} fileType");
                    }
                    // UINT32_MAX: the C parser, in MQTT mode, leaves the auth scheme unset; ours
                    // reports the document's field as it is.
                    "authSchemeLen" => {
                        let in_doc =
                            serde_json::from_slice::<J>(doc).expect("json")["afr_ota"]["files"][i]
                                .get("auth_scheme")
                                .is_some();
                        assert_eq!(
                            f.auth_scheme.is_some(),
                            in_doc,
                            "vector {name}: file {i} auth_scheme"
                        );
                    }
                    other => panic!("vector {name}: unknown asserted field {other}"),
                }
            }
        }
    }
}

#[test]
fn jobs_sdk_ota_job_handler_documents() {
    let file = load("jobs-sdk-afr-ota-parser-documents.json");
    let docs = &file["ota_job_handler_utest_documents"];
    let parse = |key: &str, add_protocols: bool| -> Result<JobDocument<'static>, JobError> {
        let mut doc = docs[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing"))
            .to_string();
        if add_protocols {
            doc = doc.replacen(r#"{"afr_ota":{"#, r#"{"afr_ota":{"protocols":["MQTT"],"#, 1);
        }
        let doc: &'static str = Box::leak(doc.into_boxed_str());
        let obj = json::parse(doc.as_bytes())
            .expect("json")
            .as_object()
            .expect("object");
        job::parse_job_document(obj)
    };
    // These documents are cut down to `files`: ours first asks for `protocols`.
    assert_eq!(
        parse("AFR_OTA_DOCUMENT", false),
        Err(JobError::Missing("protocols")),
        "AFR_OTA_DOCUMENT"
    );
    assert_eq!(
        parse("AFR_OTA_DOCUMENT", true),
        Err(JobError::Missing("fileid")),
        "AFR_OTA_DOCUMENT + protocols"
    );
    assert_eq!(
        parse("MULTI_FILE_OTA_DOCUMENT", true),
        Err(JobError::Missing("fileid")),
        "MULTI_FILE_OTA_DOCUMENT + protocols"
    );
    // 10 files: the count is checked before any file
    assert_eq!(
        parse("TOO_MANY_FILES_OTA_DOCUMENT", true),
        Err(JobError::BadFileCount),
        "TOO_MANY_FILES_OTA_DOCUMENT"
    );
    assert!(
        matches!(parse("CUSTOM_DOCUMENT", false), Ok(JobDocument::Custom(o)) if o.get("custom_job").is_some()),
        "CUSTOM_DOCUMENT"
    );
    // the multi-file document once complete: three files, in order
    let mut full = docs["MULTI_FILE_OTA_DOCUMENT"]
        .as_str()
        .expect("doc")
        .replace(r#"{"afr_ota":{"#, r#"{"afr_ota":{"protocols":["MQTT"],"#);
    for n in 1..=3 {
        full = full.replace(
            &format!(r#"{{"filesize":{n}}}"#),
            &format!(r#"{{"filesize":{n},"fileid":{n}}}"#),
        );
    }
    let obj = json::parse(full.as_bytes())
        .unwrap_or_else(|e| panic!("{full}: {e}"))
        .as_object()
        .expect("object");
    match job::parse_job_document(obj) {
        Ok(JobDocument::Ota(o)) => {
            assert_eq!(o.file_count, 3, "MULTI_FILE_OTA_DOCUMENT completed");
            let sizes: Vec<u32> = (0..3).map(|i| o.file(i).expect("file").file_size).collect();
            assert_eq!(sizes, [1, 2, 3], "MULTI_FILE_OTA_DOCUMENT completed");
        }
        other => panic!("MULTI_FILE_OTA_DOCUMENT completed: {full}: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests

/// Walks every part of a validated value through the public accessors; returns a node count.
fn walk(v: json::Value<'_>) -> usize {
    match v {
        json::Value::Object(o) => {
            let mut n = 1;
            let len = o.len();
            assert_eq!(o.iter().count(), len);
            assert_eq!(o.is_empty(), len == 0);
            for (k, v) in o.iter() {
                let _ = text(k);
                assert!(o.get(&text(k)).is_some());
                n += walk(v);
            }
            n
        }
        json::Value::Array(a) => {
            let len = a.len();
            assert_eq!(a.is_empty(), len == 0);
            assert_eq!(a.get(len), None);
            1 + a.iter().map(walk).sum::<usize>()
        }
        json::Value::String(s) => {
            let t = text(s);
            assert!(s.eq_str(&t));
            assert_eq!(s.as_str().is_some(), !s.raw().contains(&b'\\'));
            let _ = v.as_u32();
            1
        }
        other => {
            let _ = other.as_u32();
            1
        }
    }
}

/// Our tree equals serde_json's (strings compared unescaped, numbers by their text).
fn same(ours: json::Value<'_>, theirs: &J) -> Result<(), String> {
    match (ours, theirs) {
        (json::Value::Null, J::Null) => Ok(()),
        (json::Value::Bool(a), J::Bool(b)) if a == *b => Ok(()),
        (json::Value::Number(a), J::Number(b)) => {
            if a != b.to_string() {
                return Err(format!("number {a} vs {b}"));
            }
            if json::Value::Number(a).as_u64() != b.as_u64() {
                return Err(format!("as_u64 of {a}"));
            }
            Ok(())
        }
        (json::Value::String(a), J::String(b)) if text(a) == *b => Ok(()),
        (json::Value::Array(a), J::Array(b)) => {
            if a.len() != b.len() {
                return Err(format!("array length {} vs {}", a.len(), b.len()));
            }
            a.iter().zip(b).try_for_each(|(x, y)| same(x, y))
        }
        (json::Value::Object(a), J::Object(b)) => {
            if a.len() != b.len() {
                return Err(format!("object length {} vs {}", a.len(), b.len()));
            }
            for (k, v) in a.iter() {
                let key = text(k);
                same(v, b.get(&key).ok_or_else(|| format!("key {key:?}"))?)?;
                same(a.get(&key).ok_or("get")?, &b[&key])?;
            }
            Ok(())
        }
        (a, b) => Err(format!("{a:?} vs {b}")),
    }
}

/// JSON text with every non-ASCII or control character written as `\uXXXX` (surrogate pairs
/// for astral characters), in mixed hex case.
fn to_ascii_json(v: &J, out: &mut String) {
    use std::fmt::Write;
    match v {
        J::Object(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                to_ascii_json(&J::String(k.clone()), out);
                out.push(':');
                to_ascii_json(v, out);
            }
            out.push('}');
        }
        J::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                to_ascii_json(v, out);
            }
            out.push(']');
        }
        J::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '/' => out.push_str("\\/"),
                    c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                    c => {
                        let mut units = [0u16; 2];
                        for &u in c.encode_utf16(&mut units).iter() {
                            if u % 2 == 0 {
                                write!(out, "\\u{u:04x}").expect("write");
                            } else {
                                write!(out, "\\u{u:04X}").expect("write");
                            }
                        }
                    }
                }
            }
            out.push('"');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn arb_json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<u64>().prop_map(J::from),
        (0u32..=u32::MAX).prop_map(J::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(J::from),
        any::<String>().prop_map(J::String),
        "[a-z\"\\\\/\n\t]{0,8}".prop_map(J::String),
    ];
    leaf.prop_recursive(8, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
}

/// Bytes that are mostly JSON tokens, to get past the first byte more often than random bytes.
fn jsonish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(&b"{"[..]),
        Just(&b"}"[..]),
        Just(&b"["[..]),
        Just(&b"]"[..]),
        Just(&b"\""[..]),
        Just(&b":"[..]),
        Just(&b","[..]),
        Just(&b" "[..]),
        Just(&b"\\"[..]),
        Just(&b"\\u"[..]),
        Just(&b"d83d"[..]),
        Just(&b"de00"[..]),
        Just(&b"00e9"[..]),
        Just(&b"true"[..]),
        Just(&b"null"[..]),
        Just(&b"-"[..]),
        Just(&b"0"[..]),
        Just(&b"17"[..]),
        Just(&b".5"[..]),
        Just(&b"e+"[..]),
        Just(&b"\"k\":"[..]),
        Just(&b"\xc3\xa9"[..]),
        Just(&b"\xff"[..]),
        Just(&b"\n"[..]),
    ];
    prop::collection::vec(token, 0..64).prop_map(|parts| parts.concat())
}

const JOB_DOC_A: &str = r#"{"clientToken":"0:testclient","timestamp":1602795143,"execution":{"jobId":"AFR_OTA-testjob20","status":"QUEUED","statusDetails":{"self_test":"ready","updatedBy":"0x1000000"},"queuedAt":1602795128,"lastUpdatedAt":1602795128,"versionNumber":1,"executionNumber":1,"jobDocument":{"afr_ota":{"protocols":["MQTT","HTTP"],"streamname":"AFR_OTA-XYZ","files":[{"filepath":"/test/demo","filesize":10240,"fileid":0,"certfile":"test.crt","update_data_url":"https://x/y","auth_scheme":"aws.s3.presigned","fileType":"2","attr":3,"sig-sha256-ecdsa":"MEQCIF2QDvww1G/kpRGZ8FYvQrok1bSZvXjXefRk7sqNcyPTAiB4dvGt8fozIY5NC0vUDJ2MY42ZERYEcrbwA4n6q7vrBg=="},{"filesize":"0x10","fileid":"1"}] }}}}"#;

/// Runs the whole Jobs reading path and checks the parser's promises on what it accepts.
fn exercise_job_path(doc: &[u8]) {
    if let Ok(v) = json::parse(doc) {
        walk(v);
    }
    let Ok(resp) = job::parse_job_response(doc) else {
        return;
    };
    let _ = resp.client_token.map(text);
    let Some(ex) = resp.execution else { return };
    assert!(job::is_valid_job_id(ex.job_id));
    let Some(obj) = ex.job_document else { return };
    check_job_document(obj);
}

fn check_job_document(obj: json::Object<'_>) {
    if let Ok(JobDocument::Ota(o)) = job::parse_job_document(obj) {
        assert!((1..=MAX_FILES).contains(&o.file_count));
        assert!(o.protocols.mqtt || o.protocols.http);
        assert!(!o.protocols.http_first || (o.protocols.http && o.protocols.mqtt));
        if let Some(s) = o.stream_name {
            assert!(job::is_topic_safe(s, job::MAX_STREAM_NAME_LEN));
        }
        for i in 0..o.file_count {
            let f = o.file(i).expect("a file of an accepted job never fails");
            assert!(f.file_size > 0);
            for s in [
                f.file_path,
                f.cert_file,
                f.update_data_url,
                f.auth_scheme,
                f.signature,
            ]
            .into_iter()
            .flatten()
            {
                let _ = text(s);
            }
        }
        assert_eq!(o.file(o.file_count), Err(JobError::BadFileCount));
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"{}[]\",:\\0123456789-.eE+ ntfux".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), interesting.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), interesting).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(base: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut doc = base.to_vec();
    for m in mutations {
        let len = doc.len().max(1);
        match *m {
            Mutation::Set(i, b) if !doc.is_empty() => doc[i % len] = b,
            Mutation::Insert(i, b) => doc.insert(i % (doc.len() + 1), b),
            Mutation::Delete(i) if !doc.is_empty() => {
                doc.remove(i % len);
            }
            Mutation::Truncate(i) => doc.truncate(i % (doc.len() + 1)),
            _ => {}
        }
    }
    doc
}

/// Field values for generated job documents: right and wrong types, numbers as text.
fn arb_field() -> impl Strategy<Value = J> {
    prop_oneof![
        (0u32..=u32::MAX).prop_map(J::from),
        Just(J::from(0u32)),
        any::<u64>().prop_map(J::from),
        any::<i32>().prop_map(J::from),
        (0u32..=u32::MAX).prop_map(|n| J::String(n.to_string())),
        (0u32..=u32::MAX).prop_map(|n| J::String(format!("0x{n:x}"))),
        "[0-9a-zA-Z/_. -]{0,12}".prop_map(J::String),
        any::<String>().prop_map(J::String),
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        Just(serde_json::json!([1, "a"])),
        Just(serde_json::json!({"x": 1})),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(J::from),
    ]
}

/// A number the parser should accept, in one of its three spellings.
fn good_number(range: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = J> {
    prop_oneof![
        range.clone().prop_map(J::from),
        range.clone().prop_map(|n| J::String(n.to_string())),
        range.prop_map(|n| J::String(format!("0x{n:X}"))),
    ]
}

/// Mostly `good`, sometimes any field value at all.
fn mostly(good: impl Strategy<Value = J> + 'static) -> impl Strategy<Value = J> {
    prop_oneof![49 => good, 1 => arb_field()]
}

fn arb_file() -> impl Strategy<Value = J> {
    let text = || mostly("[ -~]{0,16}".prop_map(J::String));
    let file = (
        prop::option::weighted(0.98, mostly(good_number(1..=u32::MAX))),
        prop::option::weighted(0.98, mostly(good_number(0..=u32::MAX))),
        [
            prop::option::weighted(0.5, text()),
            prop::option::weighted(0.5, text()),
            prop::option::weighted(0.5, text()),
            prop::option::weighted(0.5, text()),
            prop::option::weighted(0.5, text()),
        ],
        prop::option::weighted(0.3, mostly(good_number(0..=255))),
        prop::option::weighted(0.2, arb_field()),
        prop::option::weighted(0.1, arb_field()),
    )
        .prop_map(|(size, id, texts, file_type, attr, other)| {
            let mut m = serde_json::Map::new();
            let names = [
                "filepath",
                "certfile",
                "update_data_url",
                "auth_scheme",
                "sig-sha256-ecdsa",
            ];
            for (name, value) in names.into_iter().zip(texts) {
                if let Some(v) = value {
                    m.insert(name.into(), v);
                }
            }
            for (name, value) in [
                ("filesize", size),
                ("fileid", id),
                ("fileType", file_type),
                ("attr", attr),
                ("other", other),
            ] {
                if let Some(v) = value {
                    m.insert(name.into(), v);
                }
            }
            J::Object(m)
        });
    prop_oneof![49 => file, 1 => arb_field()]
}

fn arb_afr_ota() -> impl Strategy<Value = J> {
    let protocol = prop::sample::select(vec!["MQTT", "HTTP", "MQTT", "HTTP", "XYZ"])
        .prop_map(|s| J::String(s.into()));
    let protocol_any = prop_oneof![
        prop::sample::select(vec!["MQTT", "HTTP", "XYZ", "", "mqtt"])
            .prop_map(|s| J::String(s.into())),
        arb_field(),
    ];
    let protocols = prop_oneof![
        9 => prop::collection::vec(protocol, 1..4).prop_map(J::Array),
        1 => prop::collection::vec(protocol_any, 0..3).prop_map(J::Array),
        1 => arb_field(),
    ];
    let stream = prop_oneof![
        20 => "[A-Za-z0-9_-]{1,20}".prop_map(J::String),
        1 => "[ -~]{0,10}".prop_map(J::String),
        1 => "[a-z]{128,129}".prop_map(J::String),
        1 => arb_field(),
    ];
    let files = prop_oneof![
        12 => prop::collection::vec(arb_file(), 1..=3).prop_map(J::Array),
        4 => prop::collection::vec(arb_file(), 1..=MAX_FILES).prop_map(J::Array),
        2 => prop::collection::vec(arb_file(), 0..=MAX_FILES + 2).prop_map(J::Array),
        1 => arb_field(),
    ];
    (
        prop::option::weighted(0.95, protocols),
        prop::option::weighted(0.7, stream),
        prop::option::weighted(0.95, files),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(protocols, stream, files, wrap)| {
            let mut m = serde_json::Map::new();
            if let Some(p) = protocols {
                m.insert("protocols".into(), p);
            }
            if let Some(s) = stream {
                m.insert("streamname".into(), s);
            }
            if let Some(f) = files {
                m.insert("files".into(), f);
            }
            if wrap {
                serde_json::json!({ "afr_ota": J::Object(m) })
            } else {
                J::Object(m)
            }
        })
}

/// The number a generated field stands for, by the documented rules (reference for `as_u32`).
fn reference_u32(v: &J) -> Option<u32> {
    match v {
        J::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        J::String(s) => {
            let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => (hex, 16),
                None => (s.as_str(), 10),
            };
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            let trimmed = digits.trim_start_matches('0');
            if trimmed.is_empty() {
                Some(0)
            } else {
                u32::from_str_radix(trimmed, radix).ok()
            }
        }
        _ => None,
    }
}

fn arb_detail_value() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => any::<char>(),
        1 => prop::sample::select(vec!['"', '\\', '/', ' ', 'é', '😀', '\u{2028}', '\u{feff}']),
    ];
    prop::collection::vec(
        c.prop_filter("no control characters", |c| !c.is_control()),
        1..48,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn arb_status() -> impl Strategy<Value = ExecutionStatus> {
    prop::sample::select(vec![
        ExecutionStatus::Queued,
        ExecutionStatus::InProgress,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Rejected,
        ExecutionStatus::Canceled,
        ExecutionStatus::Removed,
        ExecutionStatus::TimedOut,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_parse_never_panics_on_bytes(doc in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(v) = json::parse(&doc) {
            walk(v);
            // what we accept, serde_json accepts
            prop_assert!(serde_json::from_slice::<J>(&doc).is_ok());
        }
        exercise_job_path(&doc);
    }

    #[test]
    fn json_parse_never_panics_on_jsonish_bytes(doc in jsonish_bytes()) {
        match json::parse(&doc) {
            Ok(v) => {
                walk(v);
                prop_assert!(serde_json::from_slice::<J>(&doc).is_ok(), "{:?}", String::from_utf8_lossy(&doc));
            }
            // serde_json has no depth limit of 16 nor a duplicate-key check; otherwise it must
            // refuse what we refuse
            Err(JsonError::TooDeep | JsonError::DuplicateKey) => {}
            Err(_) => prop_assert!(serde_json::from_slice::<J>(&doc).is_err(), "{:?}", String::from_utf8_lossy(&doc)),
        }
    }

    #[test]
    fn json_agrees_with_serde_json(v in arb_json()) {
        let compact = serde_json::to_string(&v).expect("serialize");
        let pretty = serde_json::to_string_pretty(&v).expect("serialize");
        let mut ascii = String::new();
        to_ascii_json(&v, &mut ascii);
        for doc in [&compact, &pretty, &ascii] {
            let ours = json::parse(doc.as_bytes()).map_err(|e| TestCaseError::fail(format!("{doc}: {e}")))?;
            same(ours, &v).map_err(|e| TestCaseError::fail(format!("{doc}: {e}")))?;
            walk(ours);
        }
    }

    #[test]
    fn job_path_never_panics_on_mutated_documents(mutations in prop::collection::vec(arb_mutation(), 1..6)) {
        let doc = mutate(JOB_DOC_A.as_bytes(), &mutations);
        exercise_job_path(&doc);
    }

    #[test]
    fn job_document_invariants_on_generated_documents(doc in arb_afr_ota(), envelope in any::<bool>()) {
        let text = if envelope {
            serde_json::json!({"execution": {"jobId": "j-1", "jobDocument": doc.clone()}}).to_string()
        } else {
            doc.to_string()
        };
        exercise_job_path(text.as_bytes());
        let obj = json::parse(text.as_bytes()).expect("generated JSON").as_object().expect("object");
        let obj = if envelope {
            job::parse_job_response(text.as_bytes()).expect("envelope").execution.and_then(|e| e.job_document).expect("doc")
        } else {
            obj
        };
        check_job_document(obj);
        let result = job::parse_job_document(obj);
        match (&result, doc.get("afr_ota")) {
            (Ok(JobDocument::Custom(_)), None) => {}
            (_, None) => prop_assert!(false, "no afr_ota must be custom: {result:?}"),
            (Ok(JobDocument::Ota(o)), Some(afr)) => {
                let files = afr["files"].as_array().expect("accepted files are an array");
                prop_assert_eq!(o.file_count, files.len());
                for (i, f) in files.iter().enumerate() {
                    let spec = o.file(i).expect("file");
                    prop_assert_eq!(Some(spec.file_size), reference_u32(&f["filesize"]));
                    prop_assert_eq!(Some(spec.file_id), reference_u32(&f["fileid"]));
                    prop_assert_eq!(spec.file_type, f.get("fileType").map_or(Some(0), reference_u32).expect("fileType"));
                    prop_assert_eq!(spec.attr, f.get("attr").and_then(reference_u32));
                    prop_assert_eq!(opt_text(spec.file_path), f.get("filepath").and_then(|p| p.as_str()).map(String::from));
                }
                let names: Vec<&str> = afr["protocols"].as_array().expect("protocols").iter().filter_map(|p| p.as_str()).collect();
                prop_assert_eq!(o.protocols.mqtt, names.contains(&"MQTT"));
                prop_assert_eq!(o.protocols.http, names.contains(&"HTTP"));
            }
            (Err(JobError::BadNumber(field)), Some(afr)) => {
                // some file really has a value that is not a u32
                let files = afr["files"].as_array().expect("files");
                prop_assert!(files.iter().any(|f| f.get(*field).is_some_and(|v| reference_u32(v).is_none())));
            }
            (Err(JobError::ZeroFileSize), Some(afr)) => {
                let files = afr["files"].as_array().expect("files");
                prop_assert!(files.iter().any(|f| reference_u32(&f["filesize"]) == Some(0)));
            }
            (Err(JobError::BadFileCount), Some(afr)) => {
                let n = afr["files"].as_array().expect("files").len();
                prop_assert!(n == 0 || n > MAX_FILES);
            }
            (Ok(JobDocument::Custom(_)), Some(_)) => prop_assert!(false, "afr_ota present but custom"),
            (Err(_), Some(_)) => {}
            (Ok(_), Some(_)) => {}
        }
    }

    #[test]
    fn status_update_round_trips(
        status in arb_status(),
        details in prop::collection::btree_map("[a-zA-Z0-9:_-]{1,128}", arb_detail_value(), 0..=10),
        token in prop::option::of("[ !#-\\[\\]-~]{1,64}"),
        expected_version in prop::option::of(any::<u32>()),
    ) {
        let details: Vec<(&str, &str)> = details.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let update = StatusUpdate { status, details: &details, client_token: token.as_deref(), expected_version };
        let mut buf = vec![0u8; 32 * 1024];
        let n = status::encode_status_update(&update, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let out = &buf[..n];
        prop_assert!(!out.iter().any(|&b| b < 0x20), "no raw control bytes");
        let root = json::parse(out).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(out))))?;
        let root = root.as_object().expect("object");
        prop_assert!(root.get("status").and_then(|s| s.as_raw_str()).is_some_and(|s| s.eq_str(status.as_str())));
        match root.get("statusDetails").and_then(|d| d.as_object()) {
            None => prop_assert!(details.is_empty()),
            Some(obj) => {
                prop_assert_eq!(obj.len(), details.len());
                for ((k, v), (want_k, want_v)) in obj.iter().zip(&details) {
                    prop_assert!(k.eq_str(want_k));
                    let v = v.as_raw_str().expect("string value");
                    let mut out = vec![0u8; v.unescaped_len()];
                    let len = v.unescape_into(&mut out).expect("unescape");
                    prop_assert_eq!(&out[..len], want_v.as_bytes());
                }
            }
        }
        prop_assert_eq!(root.get("expectedVersion").and_then(|v| v.as_u32()), expected_version);
        match token.as_deref() {
            None => prop_assert!(root.get("clientToken").is_none()),
            Some(t) => prop_assert!(root.get("clientToken").and_then(|v| v.as_raw_str()).is_some_and(|v| v.eq_str(t))),
        }
        // serde_json reads the same thing
        let theirs: J = serde_json::from_slice(out).expect("serde_json");
        prop_assert_eq!(theirs["status"].as_str(), Some(status.as_str()));
        for (k, v) in &details {
            prop_assert_eq!(theirs["statusDetails"][*k].as_str(), Some(*v));
        }
        // one byte less never fits, and leaves the buffer alone
        let mut small = vec![0x5Au8; n - 1];
        prop_assert_eq!(status::encode_status_update(&update, &mut small), Err(EncodeError::BufferTooSmall));
        prop_assert!(small.iter().all(|&b| b == 0x5A));
    }

    #[test]
    fn status_encoders_never_panic(
        details in prop::collection::vec((any::<String>(), any::<String>()), 0..12),
        token in prop::option::of(any::<String>()),
        cap in 0usize..2048,
    ) {
        let details: Vec<(&str, &str)> = details.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let update = StatusUpdate { status: ExecutionStatus::Failed, details: &details, client_token: token.as_deref(), expected_version: None };
        let mut buf = vec![0u8; cap];
        if let Ok(n) = status::encode_status_update(&update, &mut buf) {
            prop_assert!(json::parse(&buf[..n]).is_ok());
        }
        if let Some(t) = token.as_deref()
            && let Ok(n) = status::encode_next_get(t, &mut buf)
        {
            prop_assert!(json::parse(&buf[..n]).is_ok());
        }
    }

    #[test]
    fn jobs_answer_never_panics(mutations in prop::collection::vec(arb_mutation(), 0..6)) {
        let base = br#"{"clientToken":"6:thing","timestamp":1,"code":"VersionMismatch","message":"m \"q\"","executionState":{"status":"SUCCEEDED","versionNumber":3}}"#;
        let doc = mutate(base, &mutations);
        if let Ok(a) = status::parse_jobs_answer(&doc) {
            let _ = (opt_text(a.client_token), opt_text(a.message), a.code, a.execution_status);
        }
    }
}
