// The runtime's ceiling for `make bench`: a Worker that answers a constant JSON response and
// does nothing else.
const body = JSON.stringify({ status: "ok" });
export default {
  fetch() {
    return new Response(body, { headers: { "content-type": "application/json" } });
  },
};
