//! The dedupe store ([`crate::domain::dedupe::Store`]): a DynamoDB table shared by every
//! instance, or one process's memory.

mod dynamo;
#[cfg(test)]
pub(crate) mod fakes;
mod memory;

pub use dynamo::DynamoStore;
pub use memory::MemoryStore;
