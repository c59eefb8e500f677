//! Avvio's AWS adapters: the ports of `avvio_common::ports` over DynamoDB, SQS
//! and EventBridge Scheduler, as the Lambda functions wire them.

pub mod dynamo;
pub mod local;
pub mod queues;
