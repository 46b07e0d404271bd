// A DPoP client okta-guard did not write: panva's oauth4webapi (client credentials + DPoP).
// Usage: node oauth4webapi_client.mjs ISSUER CLIENT_ID CLIENT_SECRET SCOPE API_URL
// Prints one JSON object with what happened.
import * as oauth from 'oauth4webapi'

const [issuer, clientId, clientSecret, scope, apiUrl] = process.argv.slice(2)
const as = { issuer, token_endpoint: `${issuer}/v1/token` }
const client = { client_id: clientId }
const clientAuth = oauth.ClientSecretBasic(clientSecret)
const keyPair = await oauth.generateKeyPair('ES256')
const DPoP = oauth.DPoP(client, keyPair)
const options = { DPoP, [oauth.allowInsecureRequests]: true }
const out = { tokenAttempts: 0, apiAttempts: [], calls: [] }

async function getToken() {
  for (;;) {
    out.tokenAttempts += 1
    const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, { scope }, options)
    try {
      return await oauth.processClientCredentialsResponse(as, client, response)
    } catch (err) {
      if (oauth.isDPoPNonceError(err) && out.tokenAttempts < 3) continue
      throw err
    }
  }
}

async function call(method, url) {
  let attempts = 0
  for (;;) {
    attempts += 1
    try {
      const response = await oauth.protectedResourceRequest(token.access_token, method, new URL(url), new Headers(), null, options)
      return { method, attempts, status: response.status, body: await response.json() }
    } catch (err) {
      if (oauth.isDPoPNonceError(err) && attempts < 2) continue
      return { method, attempts, status: err.status ?? err.response?.status ?? null, error: String(err.code ?? err.message) }
    }
  }
}

const token = await getToken()
out.tokenType = token.token_type
out.calls.push(await call('GET', `${apiUrl}/orders?page=1`))
out.calls.push(await call('POST', `${apiUrl}/orders`))
// The same token as a Bearer token, without proof: must be refused.
const stolen = await fetch(`${apiUrl}/orders`, { headers: { authorization: `Bearer ${token.access_token}` } })
out.bearerStatus = stolen.status
out.accessToken = token.access_token
console.log(JSON.stringify(out))
