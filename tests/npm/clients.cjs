// Drive a running mailsink with the real npm clients `mailpit-api` and `mailhog`.
// Usage: node clients.cjs http://127.0.0.1:PORT   (run by tests/test_api_npm.py, which
// first sends one message over SMTP with subject "From smtplib" to smtp-user@example.test).
'use strict'

const assert = require('node:assert/strict')
const { MailpitClient } = require('mailpit-api')
const mailhog = require('mailhog')

const base = process.argv[2]
const steps = []

async function step(name, fn) {
  await fn()
  steps.push(name)
}

async function mailpitApi() {
  const mp = new MailpitClient(base)

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
      Headers: { 'X-Campaign': 'spring' },
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
    assert.equal((await mp.renderMessageText(sentID)).trim(), 'Hello Jane')
  })

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
  await mailhogClient()
  console.log(JSON.stringify({ ok: true, steps }))
}

main().catch((error) => {
  console.error(`failed after ${steps.length} steps (${steps.join('; ')}):`)
  console.error(error)
  process.exit(1)
})
