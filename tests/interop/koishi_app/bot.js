// Koishi app driven by the interop suite: answers "ping", records what Koishi saw.
//
// Run with NODE_PATH=.interop/koishi/node_modules (tests/interop/setup installs it).
// Configured only through the environment (the harness sets it):
//   KOISHI_PORT          port of Koishi's own HTTP/WS server (127.0.0.1)
//   ONEBOT_PROTOCOL      'ws' (Koishi dials ONEBOT_ENDPOINT) or 'ws-reverse'
//                        (Koishi serves ONEBOT_PATH, default /onebot)
//   ONEBOT_ENDPOINT      ws://127.0.0.1:PORT/ for 'ws'
//   ONEBOT_TOKEN         access token ('ws' sends it; Koishi's 'ws-reverse' ignores it)
//   ONEBOT_SELF_ID       the bot Koishi expects (default 10000)
//   INTEROP_EVENTS       JSONL file every record is appended to
//   INTEROP_TAG          optional suffix of replies, to tell two frameworks apart
//
// Records, one JSON object a line:
//   {kind: 'connected'|'disconnected', self_id, user_id}   bot status changes
//   {kind: 'session', type, subtype, ..., quote, onebot}   every session Koishi dispatches
//   {kind: 'sent', message_ids, text}                      answers sent through session.send
'use strict'

const fs = require('node:fs')
const { Context, Logger, Universal } = require('koishi')
const server = require('@koishijs/plugin-server')
const http = require('@koishijs/plugin-http')
const onebot = require('koishi-plugin-adapter-onebot')

const env = process.env
const eventsFile = env.INTEROP_EVENTS
if (!eventsFile) throw new Error('INTEROP_EVENTS is not set')
const tag = env.INTEROP_TAG || ''
const selfId = env.ONEBOT_SELF_ID || '10000'

// The adapter's request/response/receive lines at debug level: the harness
// prints this log when a scenario fails.
Logger.levels.base = 2
Logger.levels.onebot = 3
Logger.levels.adapter = 3

function record(fields) {
  fields.at = Date.now() / 1000
  // appendFileSync: one write per line, so the harness never reads half a record.
  fs.appendFileSync(eventsFile, JSON.stringify(fields) + '\n')
}

const ctx = new Context()
ctx.plugin(http.default || http)
ctx.plugin(server.default || server, { host: '127.0.0.1', port: Number(env.KOISHI_PORT) })

const botConfig = {
  selfId,
  protocol: env.ONEBOT_PROTOCOL,
  responseTimeout: 10000,
}
if (env.ONEBOT_TOKEN) botConfig.token = env.ONEBOT_TOKEN
if (env.ONEBOT_PROTOCOL === 'ws') {
  Object.assign(botConfig, {
    endpoint: env.ONEBOT_ENDPOINT,
    // Faster than the defaults (5 s, then 1 min) so restarts are quick to test.
    retryTimes: 30,
    retryInterval: 1000,
    retryLazy: 2000,
  })
} else {
  botConfig.path = env.ONEBOT_PATH || '/onebot'
}
ctx.plugin(onebot.default || onebot, botConfig)

// Bot status: Koishi marks the bot online only after get_login_info succeeded.
let lastStatus = null
setInterval(() => {
  const bot = ctx.bots.find((b) => b.platform === 'onebot' && b.selfId === selfId)
  const status = bot ? bot.status : null
  if (status === lastStatus) return
  const wasOnline = lastStatus === Universal.Status.ONLINE
  lastStatus = status
  if (status === Universal.Status.ONLINE) {
    record({ kind: 'connected', self_id: bot.selfId, user_id: bot.user && bot.user.id })
  } else if (wasOnline) {
    record({ kind: 'disconnected', self_id: selfId, status })
  }
}, 100)

ctx.on('internal/session', (session) => {
  const quote = session.quote
  record({
    kind: 'session',
    type: session.type,
    subtype: session.subtype,
    self_id: session.selfId,
    user_id: session.userId,
    guild_id: session.guildId,
    channel_id: session.channelId,
    message_id: session.messageId,
    operator_id: session.operatorId,
    target_id: session.targetId,
    content: session.content,
    quote: quote ? { id: quote.id, content: quote.content, user_id: quote.user && quote.user.id } : null,
    onebot: session.onebot || null,
  })
})

ctx.middleware(async (session, next) => {
  const content = (session.content || '').trim()
  if (!content.startsWith('ping')) return next()
  const text = 'pong ' + content.slice('ping'.length).trim() + (tag ? ` (${tag})` : '')
  const ids = await session.send(text)
  record({ kind: 'sent', message_ids: ids, text })
})

ctx.start().then(
  () => console.log(`interop koishi: started (${env.ONEBOT_PROTOCOL}, self_id ${selfId})`),
  (error) => {
    console.error('interop koishi: failed to start', error)
    process.exit(1)
  },
)

// Exit at once: Koishi's own dispose path throws when stopped this early, and the
// sockets close with the process anyway.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
