//! Customer messages from the `to-desk` queue into the conversation's desk.

use crate::model::Direction;
use crate::ports::{Ports, QueueJob};
use crate::services::delivery::deliver;
use crate::services::desks::Desks;
use crate::Result;

pub struct ToDesk<P: Ports> {
    store: P::Store,
    desks: Desks<P>,
}

impl<P: Ports> ToDesk<P> {
    pub fn new(store: P::Store, desks: Desks<P>) -> Self {
        ToDesk { store, desks }
    }

    /// Delivers one job's message; `last` when the queue will not bring it again.
    pub async fn handle(&self, job: QueueJob, last: bool) -> Result<()> {
        deliver(&self.store, &job, Direction::Inbound, last, |c, m| async move {
            self.desks.deliver(&c, &m).await
        })
        .await
        .map(|_| ())
    }
}
