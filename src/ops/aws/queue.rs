//! The notifications queue on SQS: long-polled receives and batched deletes, with
//! the client built from the same configuration as every other AWS client.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::OnceCell;

use super::{AwsOps, CountCalls, EmulatorAccount};
use crate::notify::{Message, Queue, QueueError};

/// SQS's longest long poll: an idle queue costs three receives a minute.
pub const LONG_POLL_SECONDS: i32 = 20;

pub struct SqsQueue {
    ops: std::sync::Arc<AwsOps>,
    url: String,
    client: OnceCell<aws_sdk_sqs::Client>,
}

impl SqsQueue {
    pub fn new(ops: std::sync::Arc<AwsOps>, url: &str) -> SqsQueue {
        SqsQueue {
            ops,
            url: url.to_string(),
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<&aws_sdk_sqs::Client, QueueError> {
        self.client
            .get_or_try_init(|| async {
                let sdk = self
                    .ops
                    .base()
                    .await
                    .map_err(|e| QueueError::Unreachable(e.to_string()))?;
                let mut config = aws_sdk_sqs::config::Builder::from(sdk)
                    .interceptor(CountCalls)
                    // A receive waits up to the long poll by design: the shared
                    // per-call timeout would cut every idle poll short.
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(3))
                            .operation_attempt_timeout(Duration::from_secs(
                                LONG_POLL_SECONDS as u64 + 10,
                            ))
                            .build(),
                    );
                // The queue's region is in its URL: sqs.REGION.amazonaws.com.
                if let Some(region) = region_of(&self.url) {
                    config = config.region(aws_config::Region::new(region));
                }
                if let Some(account) = self.ops.emulator_account.as_deref() {
                    config = config.interceptor(EmulatorAccount(account.to_string()));
                }
                Ok(aws_sdk_sqs::Client::from_conf(config.build()))
            })
            .await
    }
}

/// `https://sqs.eu-west-1.amazonaws.com/123/q` → `eu-west-1`.
fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let rest = host.strip_prefix("sqs.")?;
    let region = rest.split('.').next()?;
    (!region.is_empty() && rest.contains("amazonaws")).then(|| region.to_string())
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    action: &str,
    e: SdkError<E, R>,
) -> QueueError {
    let code = e.code().unwrap_or_default().to_string();
    let message = e.message().unwrap_or_default().to_string();
    if code.contains("AccessDenied") || code.contains("NotAuthorized") {
        QueueError::Denied(action.to_string())
    } else if code.contains("NonExistentQueue") || code.contains("QueueDoesNotExist") {
        QueueError::Missing(if message.is_empty() { code } else { message })
    } else if code.is_empty() {
        QueueError::Unreachable(
            aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        )
    } else {
        QueueError::Unreachable(format!("{code}: {message}"))
    }
}

impl Queue for SqsQueue {
    async fn receive(&self) -> Result<Vec<Message>, QueueError> {
        let out = self
            .client()
            .await?
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(LONG_POLL_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| classify("sqs:ReceiveMessage", e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Message {
                    id: m.message_id()?.to_string(),
                    receipt: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    receives: m
                        .attributes()
                        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), QueueError> {
        let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .build()
                    .ok()
            })
            .collect();
        let out = self
            .client()
            .await?
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            // IAM authorises a batch by the single-message action.
            .map_err(|e| classify("sqs:DeleteMessage", e))?;
        if let Some(f) = out.failed().first() {
            return Err(QueueError::Unreachable(format!(
                "{} of the deletes failed: {}",
                out.failed().len(),
                f.message().unwrap_or(f.code())
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_region_comes_from_an_aws_queue_url_only() {
        assert_eq!(
            super::region_of("https://sqs.eu-west-1.amazonaws.com/123456789012/dockhand-events")
                .as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            super::region_of("http://127.0.0.1:4566/123456789012/q"),
            None
        );
    }
}
