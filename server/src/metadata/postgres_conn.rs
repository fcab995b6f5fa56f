//! Pooled Postgres connections that keep the statements they have prepared.
//!
//! The `postgres` client, given a statement as text, first prepares it (a round trip to
//! the server) and then runs it (another). An upload runs about ten statements in one
//! transaction, all under the user's row lock, so those extra round trips set how many
//! uploads per second one user gets. A statement kept by its text is prepared once per
//! connection and then bound and run in one round trip.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row, Statement};
use r2d2_postgres::PostgresConnectionManager;

/// More distinct statements than this (there are far fewer in the code) and the cache
/// starts over, so text built at run time can never grow it without bound.
const MAX_PREPARED: usize = 512;

/// The statements one connection has prepared, by their text.
#[derive(Default)]
pub(super) struct Prepared(HashMap<String, Statement>);

pub(super) struct PgConn {
    client: Client,
    prepared: Prepared,
}

impl Deref for PgConn {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl PgConn {
    /// The client and its statements, borrowed apart (a transaction borrows the client).
    pub(super) fn split(&mut self) -> (&mut Client, &mut Prepared) {
        (&mut self.client, &mut self.prepared)
    }
}

/// r2d2's Postgres manager, with a statement cache beside each connection.
pub(super) struct Manager(PostgresConnectionManager<NoTls>);

impl Manager {
    pub(super) fn new(config: postgres::Config) -> Self {
        Manager(PostgresConnectionManager::new(config, NoTls))
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.0.connect()?,
            prepared: Prepared::default(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}

/// Statements in Postgres's dialect on a pooled client or a transaction, through the
/// connection's statement cache.
pub(super) struct Pg<'a, C> {
    pub(super) client: &'a mut C,
    prepared: &'a mut Prepared,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl<'a> Pg<'a, Client> {
    /// On a connection outside any transaction.
    pub(super) fn on(conn: &'a mut PgConn) -> Self {
        let (client, prepared) = conn.split();
        Pg { client, prepared }
    }
}

impl<'a, C: GenericClient> Pg<'a, C> {
    pub(super) fn new(client: &'a mut C, prepared: &'a mut Prepared) -> Self {
        Pg { client, prepared }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.prepared.0.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        if self.prepared.0.len() >= MAX_PREPARED {
            self.prepared.0.clear();
        }
        self.prepared.0.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    pub(super) fn query(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query(&s, params)
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_opt(&s, params)
    }

    pub(super) fn query_one(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Row, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.query_one(&s, params)
    }

    pub(super) fn execute(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let s = self.statement(sql)?;
        self.client.execute(&s, params)
    }
}
