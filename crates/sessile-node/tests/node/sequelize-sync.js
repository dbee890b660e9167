#!/usr/bin/env node
// Runs the two Sequelize session stores' own sync() on one database, then exits: the tables as
// the Node packages create them, for sessile-node's DDL comparison (sessile-sql: tests/it/sequelize_ddl.rs).
//
// Environment:
//   SEQ_URL      Sequelize connection URL (sqlite:/path/file.db, postgres://..., mysql://...)
//   KOA_TABLE    koa-generic-session-sequelize's tableName
//   EXPRESS_TABLE  connect-session-sequelize's tableName
// Prints `{"ok":true}` when both tables exist.
'use strict';

const session = require('express-session');
const KoaStore = require('koa-generic-session-sequelize');
const ExpressStore = require('connect-session-sequelize')(session.Store);
const { Sequelize } = require('sequelize');

(async () => {
  const sequelize = new Sequelize(process.env.SEQ_URL, { logging: false });
  const koa = new KoaStore(sequelize, { tableName: process.env.KOA_TABLE });
  await new Promise((resolve) => koa.once('connect', resolve));
  const express = new ExpressStore({
    db: sequelize, tableName: process.env.EXPRESS_TABLE, checkExpirationInterval: 0,
  });
  await express.sync();
  await sequelize.close();
  process.stdout.write(JSON.stringify({ ok: true }) + '\n');
})().catch((err) => { console.error(err); process.exit(1); });
