//! Chat rooms beside the player: the protocol, moderation rules, fan-out and
//! the bus between nodes. Knows nothing about video: the server implements
//! [`store::Store`] to give it storage and the live clock, and moves bytes
//! between [`hub::Session`]s and sockets.

pub mod bus;
pub mod history;
pub mod hub;
pub mod moderation;
pub mod names;
pub mod protocol;
pub mod rate;
pub mod redis_bus;
pub mod room;
pub mod store;

pub use bus::{AnyBus, Bus, LocalBus, RoomEvent};
pub use hub::{Action, Close, Hub, IpTarget, JoinError, JoinRequest, ModerationError, Session};
pub use protocol::{ChatMessage, ErrorCode, Role, User};
pub use redis_bus::{RedisBus, RedisBusError};
pub use room::Limits;
pub use store::{LivePosition, RoomSnapshot, Store, StoreError, StoredMessage};
