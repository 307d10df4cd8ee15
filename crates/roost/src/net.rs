//! What every listener shares, whatever protocol it speaks: the client stream
//! (plain or TLS), TLS itself, accepting under descriptor pressure, and the
//! budget for replies waiting on slow clients. The front doors (`api/resp`,
//! `api/http`) build on these and hold no socket policy of their own.

mod accept;
mod budget;
mod stream;
mod timed;
mod tls;

pub use accept::{accept, raise_fd_limit};
pub use budget::{BudgetExceeded, Holding, OutputBudget};
pub use stream::Stream;
pub use timed::{TimedStream, SHUTDOWN_STALL};
pub use tls::{Tls, TlsError, TlsFiles};
