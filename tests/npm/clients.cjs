// Drive a running mailsink with the real npm clients `mailpit-api`, `mailhog` and `ws`.
// Usage: node clients.cjs http://127.0.0.1:PORT   (run by tests/test_api_npm.py, which
// first sends one message over SMTP with subject "From smtplib" to smtp-user@example.test).
'use strict'

const assert = require('node:assert/strict')
const { MailpitClient } = require('mailpit-api')
const mailhog = require('mailhog')
const WebSocket = require('ws')

const base = process.argv[2]
const steps = []
const pending = []
const called = new Set()
// A 1x1 PNG, sent as a data: URL as browsers' readAsDataURL() makes it (Mailpit strips the prefix).
const PNG = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='

async function step(name, fn) {
  await fn()
  steps.push(name)
}

// Calls that need an option this sink was not started with (--link-check, --spamassassin,
// --relay): they must fail with a clear 4xx, never a 404 or 5xx; the report lists them.
async function needsOption(name, call, allowed) {
  try {
    await call()
    pending.push({ name, status: 200 })
  } catch (error) {
    const status = Number((String(error.message).match(/\b([45]\d\d)\b/) || [])[1])
    assert.ok(allowed.includes(status), `${name}: ${error.message}`)
    pending.push({ name, status })
  }
}

// Record which MailpitClient methods were called, to check that every one of them was.
function tracked(client) {
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop)
      if (typeof value !== 'function') return value
      return (...args) => {
        called.add(String(prop))
        return value.apply(target, args)
      }
    },
  })
}

async function mailpitApi() {
  const mp = tracked(new MailpitClient(base))

  await step('mailpit-api: listMessages sees the SMTP message', async () => {
    const list = await mp.listMessages()
    assert.equal(list.total, 1)
    assert.equal(list.messages_count, 1)
    assert.equal(list.messages[0].Subject, 'From smtplib')
    assert.equal(list.messages[0].To[0].Address, 'smtp-user@example.test')
  })

  let sentID
  await step('mailpit-api: sendMessage', async () => {
    const sent = await mp.sendMessage({
      From: { Email: 'app@example.test', Name: 'App' },
      To: [{ Email: 'jane@example.test', Name: 'Jane' }],
      Bcc: ['hidden@example.test'],
      Subject: 'Via the API',
      Text: 'Hello Jane',
      HTML: '<p>Hello <b>Jane</b></p>',
      Tags: ['api'],
      Headers: { 'X-Campaign': 'spring', 'Message-ID': '<chosen@example.test>' },
      Attachments: [{ Content: Buffer.from('a,b\n').toString('base64'), Filename: 'data.csv' }],
    })
    assert.match(sent.ID, /^[0-9A-Z]{22}$/)
    sentID = sent.ID
  })

  await step('mailpit-api: getInfo and getConfiguration', async () => {
    const info = await mp.getInfo()
    assert.equal(info.Messages, 2)
    assert.equal(info.Unread, 2)
    const config = await mp.getConfiguration()
    assert.equal(config.MessageRelay.Enabled, false)
  })

  await step('mailpit-api: getMessageSummary (latest) marks read', async () => {
    const message = await mp.getMessageSummary()
    assert.equal(message.ID, sentID)
    assert.equal(message.Subject, 'Via the API')
    assert.equal(message.Text.trim(), 'Hello Jane')
    assert.deepEqual(message.Tags, ['api'])
    assert.equal(message.Attachments[0].FileName, 'data.csv')
    const info = await mp.getInfo()
    assert.equal(info.Unread, 1)
  })

  await step('mailpit-api: headers, source, attachment, rendered views', async () => {
    const headers = await mp.getMessageHeaders(sentID)
    assert.deepEqual(headers['X-Campaign'], ['spring'])
    const source = await mp.getMessageSource(sentID)
    assert.match(source, /Subject: Via the API/)
    const message = await mp.getMessageSummary(sentID)
    const blob = await mp.getMessageAttachment(sentID, message.Attachments[0].PartID)
    assert.equal(await blob.text(), 'a,b\n')
    assert.match(await mp.renderMessageHTML(sentID), /<b>Jane<\/b>/)
    assert.match(await mp.renderMessageHTML(sentID, 1), /<b>Jane<\/b>/)
    assert.equal((await mp.renderMessageText(sentID)).trim(), 'Hello Jane')
    assert.equal(message.MessageID, 'chosen@example.test')
  })

  await step('mailpit-api: getAttachmentThumbnail of an image sent as a data: URL', async () => {
    const sent = await mp.sendMessage({
      From: { Email: 'app@example.test' },
      To: [{ Email: 'pics@example.test' }],
      Subject: 'Picture',
      Attachments: [{ Content: PNG, Filename: 'dot.png', ContentType: 'image/png' }],
    })
    const message = await mp.getMessageSummary(sent.ID)
    const thumb = await mp.getAttachmentThumbnail(sent.ID, message.Attachments[0].PartID)
    assert.equal(thumb.type, 'image/jpeg')
    const bytes = Buffer.from(await thumb.arrayBuffer())
    assert.equal(bytes[0], 0xff)
    assert.equal(bytes[1], 0xd8)
    await mp.deleteMessages({ IDs: [sent.ID] })
  })

  await step('mailpit-api: listMessages(0, 2000), as its own helpers page', async () => {
    const list = await mp.listMessages(0, 2000)
    assert.equal(list.messages.length, 2)
    assert.equal(list.messages_unread, 1)
    const found = await mp.searchMessages({ query: 'subject:API', tz: 'Mars/Olympus' })
    assert.equal(found.messages_count, 1)
    assert.equal(typeof found.messages_unread, 'number')
  })

  await step('mailpit-api: htmlCheck', async () => {
    const check = await mp.htmlCheck(sentID)
    assert.equal(typeof check.Total.Nodes, 'number')
    assert.ok(Array.isArray(check.Warnings))
  })

  await step('mailpit-api: getChaosTriggers and setChaosTriggers (--enable-chaos)', async () => {
    const triggers = await mp.getChaosTriggers()
    assert.equal(typeof triggers.Sender.Probability, 'number')
    const set = await mp.setChaosTriggers({ Sender: { ErrorCode: 451, Probability: 0 } })
    assert.equal(set.Sender.ErrorCode, 451)
  })

  await needsOption('linkCheck', () => mp.linkCheck(sentID, false), [403])
  await needsOption('spamAssassinCheck', () => mp.spamAssassinCheck(sentID), [403])
  await needsOption('releaseMessage', () => mp.releaseMessage(sentID, { To: ['x@example.test'] }), [400])

  await step('mailpit-api: searchMessages and waitForMessage', async () => {
    const found = await mp.searchMessages({ query: 'to:jane@example.test' })
    assert.equal(found.messages_count, 1)
    assert.equal(found.total, 2)
    const bcc = await mp.searchMessages({ query: 'bcc:hidden@example.test' })
    assert.equal(bcc.messages[0].ID, sentID)
    const waited = await mp.waitForMessage({ query: 'subject:"From smtplib"' }, { timeout: 2000 })
    assert.equal(waited.Subject, 'From smtplib')
    const many = await mp.waitForMessages({ count: 2 }, { timeout: 2000 })
    assert.equal(many.messages_count, 2)
  })

  await step('mailpit-api: setReadStatus by IDs and by search', async () => {
    // Both are read by now: getMessageSummary and waitForMessage mark messages read.
    assert.equal(await mp.setReadStatus({ IDs: [sentID], Read: false }), 'ok')
    assert.equal((await mp.getInfo()).Unread, 1)
    await mp.setReadStatus({ Search: 'subject:smtplib', Read: false })
    assert.equal((await mp.getInfo()).Unread, 2)
    await mp.setReadStatus({ Read: true })
    assert.equal((await mp.getInfo()).Unread, 0)
    await mp.setReadStatus({ Search: 'after:2020-01-01', Read: false }, { tz: 'America/Chicago' })
    assert.equal((await mp.getInfo()).Unread, 2)
    await mp.setReadStatus({ Read: true })
  })

  await step('mailpit-api: tags set, rename, delete', async () => {
    assert.equal(await mp.setTags({ IDs: [sentID], Tags: ['one', 'two words'] }), 'ok')
    assert.deepEqual(await mp.getTags(), ['one', 'two words'])
    await mp.renameTag('two words', 'renamed')
    assert.deepEqual(await mp.getTags(), ['one', 'renamed'])
    await mp.deleteTag('one')
    assert.deepEqual(await mp.getTags(), ['renamed'])
  })

  await step('mailpit-api: errors are thrown with the message', async () => {
    await assert.rejects(mp.getMessageSummary('NOPE'), /404/)
    await assert.rejects(mp.searchMessages({ query: 'is:maybe' }), /400/)
  })

  await step('mailpit-api: deleteMessagesBySearch and deleteMessages', async () => {
    assert.equal(await mp.deleteMessagesBySearch({ query: 'subject:"Via the API"' }), 'ok')
    assert.equal((await mp.listMessages()).total, 1)
    const extra = await mp.sendMessage({ From: { Email: 'a@example.test' }, To: [{ Email: 'b@example.test' }] })
    assert.equal(await mp.deleteMessages({ IDs: [extra.ID] }), 'ok')
    assert.equal((await mp.listMessages()).total, 1)
  })

  const methods = Object.getOwnPropertyNames(MailpitClient.prototype).filter(
    (name) => name !== 'constructor' && name !== 'request' && !name.startsWith('#'),
  )
  const missed = methods.filter((name) => !called.has(name))
  assert.deepEqual(missed, [], `MailpitClient methods not exercised: ${missed}`)
  steps.push(`mailpit-api: all ${methods.length} methods called`)
}

function openSocket(url, options) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options)
    const frames = []
    const waiters = []
    ws.on('message', (data) => {
      frames.push(JSON.parse(String(data)))
      while (waiters.length) waiters.shift()()
    })
    ws.nextOf = async (type) => {
      const deadline = Date.now() + 5000
      for (;;) {
        const index = frames.findIndex((f) => f.Type === type)
        if (index >= 0) return frames.splice(index, 1)[0]
        if (Date.now() > deadline) throw new Error(`no ${type} frame`)
        await new Promise((r) => { waiters.push(r); setTimeout(r, 200) })
      }
    }
    ws.on('open', () => resolve(ws))
    ws.on('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })))
    ws.on('error', reject)
  })
}

async function websocketClient() {
  const url = base.replace(/^http/, 'ws') + '/api/events'
  const mp = new MailpitClient(base)

  await step('ws: new, delete and stats frames on /api/events', async () => {
    const ws = await openSocket(url)
    assert.equal(typeof (await ws.nextOf('stats')).Data.Total, 'number')
    const sent = await mp.sendMessage({ From: { Email: 'ws@example.test' }, To: [{ Email: 'live@example.test' }], Subject: 'Live' })
    const created = await ws.nextOf('new')
    assert.equal(created.Data.ID, sent.ID)
    assert.equal(created.Data.Subject, 'Live')
    await mp.deleteMessages({ IDs: [sent.ID] })
    assert.deepEqual((await ws.nextOf('delete')).Data, { ID: sent.ID })
    assert.equal(typeof (await ws.nextOf('stats')).Data.Unread, 'number')
    ws.close()
  })

  await step('ws: a foreign Origin is refused with 403', async () => {
    await assert.rejects(openSocket(url, { origin: 'http://evil.example.test' }), (e) => e.status === 403)
  })
}

async function mailhogClient() {
  const url = new URL(base)
  const mh = mailhog({ host: url.hostname, port: Number(url.port) })

  await step('mailhog: messages with decoded text and headers', async () => {
    const result = await mh.messages()
    assert.equal(result.total, 1)
    assert.equal(result.count, 1)
    const mail = result.items[0]
    assert.equal(mail.subject, 'From smtplib')
    assert.equal(mail.to, 'smtp-user@example.test')
    assert.equal(mail.text.trim(), 'Grüße from Python')
    assert.ok(mail.deliveryDate instanceof Date)
  })

  await step('mailhog: latestTo, latestFrom, latestContaining', async () => {
    assert.equal((await mh.latestTo('smtp-user@example.test')).subject, 'From smtplib')
    assert.equal((await mh.latestFrom('python@example.test')).subject, 'From smtplib')
    assert.equal((await mh.latestContaining('from Python')).subject, 'From smtplib')
    assert.equal(await mh.latestTo('nobody@example.test'), 0)
  })

  await step('mailhog: search by kind, encode and decode', async () => {
    const found = await mh.search('python@example.test', 'from')
    assert.equal(found.total, 1)
    assert.equal(found.items[0].subject, 'From smtplib')
    assert.equal((await mh.search('nobody', 'to')).total, 0)
    assert.equal((await mh.search('from Python', 'containing', 0, 10)).count, 1)
    assert.equal(mh.decode(mh.encode('Grüße', 'quoted-printable'), 'quoted-printable'), 'Grüße')
  })

  const first = (await mh.messages()).items[0]
  await needsOption(
    'mailhog releaseMessage',
    async () => {
      const config = { host: '127.0.0.1', port: '1', email: 'x@example.test' }
      const response = await mh.releaseMessage(first.ID, config)
      if (response.Error) {
        // The client resolves with any JSON body; ask the same URL for the status it had.
        const again = await fetch(`${base}/api/v1/messages/${first.ID}/release`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(config) })
        throw new Error(`HTTP ${again.status}: ${response.Error}`)
      }
    },
    [400],
  )

  await step('mailhog: deleteMessage and deleteAll', async () => {
    const result = await mh.messages()
    const response = await mh.deleteMessage(result.items[0].ID)
    assert.equal(response.statusCode, 200)
    assert.equal((await mh.messages()).total, 0)
    const all = await mh.deleteAll()
    assert.equal(all.statusCode, 200)
  })
}

async function main() {
  await mailpitApi()
  await websocketClient()
  await mailhogClient()
  console.log(JSON.stringify({ ok: true, steps, pending }))
}

main().catch((error) => {
  console.error(`failed after ${steps.length} steps (${steps.join('; ')}):`)
  console.error(error)
  process.exit(1)
})
