// Leverj's own JavaScript libraries against a local testnet: @leverj/zka signs the requests
// (NONCE and SIGN), @leverj/adapter signs the orders (personal-message signatures, as adapter 4.2.1
// does). Usage: node leverj_client.js ORIGIN ACCOUNT_ID SECRET ; prints one JSON object.
const zka = require('@leverj/zka')
const derivatives = require('@leverj/adapter/src/DerivativesOrderAdaptor')
const spot = require('@leverj/adapter/src/OrderAdapter')
const ethUtil = require('ethereumjs-util')

async function attempt(promise) {
  try { return {ok: await promise} } catch (e) { return {error: e.message} }
}

async function main() {
  const [origin, accountId, secret] = process.argv.slice(2)
  const apiKey = ethUtil.toChecksumAddress(ethUtil.bufferToHex(ethUtil.privateToAddress(ethUtil.toBuffer(secret))))
  const out = {}
  for (const authType of ['NONCE', 'SIGN']) {
    const futures = zka(origin, '/futures/api/v1', authType)
    futures.init(accountId, apiKey, secret)
    out[authType + ' balance'] = await attempt(futures.rest.get('/account/balance'))
    const config = await futures.rest.get('/all/config')
    const instrument = config.instruments['1']
    const order = {accountId, originator: apiKey, instrument: '1', price: authType === 'NONCE' ? 20000 : 20001,
                   quantity: 0.01, marginPerFraction: '2000000000000000000000', side: 'buy', orderType: 'LMT',
                   timestamp: Date.now() * 1000, quote: instrument.quote.address, isPostOnly: false,
                   reduceOnly: false, clientOrderId: 1}
    order.signature = derivatives.sign(order, instrument, secret)
    out[authType + ' futures order'] = await attempt(futures.rest.post('/order', {}, [order]))
    const tampered = Object.assign({}, order, {quantity: 0.02, timestamp: order.timestamp + 1})
    out[authType + ' tampered order'] = await attempt(futures.rest.post('/order', {}, [tampered]))
  }
  const market = zka(origin, '/spot/api/v1', 'SIGN')
  market.init(accountId, apiKey, secret)
  const pair = (await market.rest.get('/all/config')).instruments['ETHDAI']
  const order = {orderType: 'LMT', side: 'buy', price: 1000.5, quantity: 0.5, timestamp: Date.now() * 1000,
                 accountId, token: pair.base.address, instrument: 'ETHDAI'}
  order.signature = spot.sign(order, pair, secret)
  out['spot order'] = await attempt(market.rest.post('/order', {}, [order]))
  const other = Object.assign({}, order, {timestamp: order.timestamp + 1})
  other.signature = spot.sign(other, pair, '0x' + '42'.repeat(32))
  out['spot order by another key'] = await attempt(market.rest.post('/order', {}, [other]))
  console.log(JSON.stringify(out))
  process.exit(0)
}

main().catch(e => { console.error(e); process.exit(1) })
