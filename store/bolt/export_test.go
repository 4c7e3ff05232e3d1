package bolt

// VerifyPath exposes the page check of Open to the benchmarks.
var VerifyPath = verifyPath
