// near-api-js 7's ordinary Account flows against a devnet; prints one JSON object of what it saw.
// Driven by tests/devnet/node/test_devnet_near_api_js.py (env: RPC_URL, ROOT_ID, ROOT_KEY, CONTRACT_ID).
// Every step uses the library's defaults (optimistic reads, EXECUTED_OPTIMISTIC waits, final block hashes).
import { Account, JsonRpcProvider, KeyPair } from "near-api-js";
import { NEAR } from "near-api-js/tokens";

const { RPC_URL, ROOT_ID, ROOT_KEY, CONTRACT_ID } = process.env;
const provider = new JsonRpcProvider({ url: RPC_URL });
const root = new Account(ROOT_ID, provider, ROOT_KEY);
const out = {};

async function expectFailure(name, fn) {
  try {
    await fn();
    out[name] = "no error";
  } catch (e) {
    out[name] = `${e.constructor.name}: ${e.message}`;
  }
}

const state = await root.getState();
out.rootState = { total: state.balance.total.toString(), storageUsage: state.storageUsage };
out.rootBalance = (await root.getBalance()).toString();

// createAccount (a sub-account of the root), then transfer to it
const newId = `js${Date.now()}.${ROOT_ID}`;
const newKey = KeyPair.fromRandom("ed25519");
await root.createAccount({ newAccountId: newId, publicKey: newKey.getPublicKey(), nearToTransfer: NEAR.toUnits("5") });
const user = new Account(newId, provider, newKey.toString());
out.createdBalance = (await user.getBalance()).toString();
await root.transfer({ receiverId: newId, amount: NEAR.toUnits("1") });
out.afterTransferBalance = (await user.getBalance()).toString();

// add a full-access key, then delete it
const extra = KeyPair.fromRandom("ed25519");
await user.addFullAccessKey(extra.getPublicKey());
out.keysAfterAdd = (await user.getAccessKeyList()).keys.length;
await user.deleteKey(extra.getPublicKey());
out.keysAfterDelete = (await user.getAccessKeyList()).keys.length;

// callFunction (a change method), then a view through the provider
await user.callFunction({ contractId: CONTRACT_ID, methodName: "set", args: { by: newId } });
out.view = await provider.callFunction({ contractId: CONTRACT_ID, method: "get", args: {} });

// a function-call key: may call `set` on the contract, nothing else
const fcKey = KeyPair.fromRandom("ed25519");
await user.addFunctionCallAccessKey({ publicKey: fcKey.getPublicKey(), contractId: CONTRACT_ID, methodNames: ["set"] });
const limited = new Account(newId, provider, fcKey.toString());
await limited.callFunction({ contractId: CONTRACT_ID, methodName: "set", args: { by: "fc-key" } });
out.viewAfterFcKey = await provider.callFunction({ contractId: CONTRACT_ID, method: "get", args: {} });
await expectFailure("fcKeyWrongMethod", () =>
  limited.callFunction({ contractId: CONTRACT_ID, methodName: "log", args: { x: 1 } }),
);
await expectFailure("fcKeyTransfer", () => limited.transfer({ receiverId: ROOT_ID, amount: 1n }));
const fcKeyView = await limited.getAccessKey(fcKey.getPublicKey());
out.fcKeyPermission = fcKeyView.permission;

// a failing view: nearcore's error text reaches the client
await expectFailure("missingMethod", () => provider.callFunction({ contractId: CONTRACT_ID, method: "nope", args: {} }));

console.log(JSON.stringify(out));
