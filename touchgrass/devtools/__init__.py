"""Development only: `touchgrass dev` (the whole system on one machine) and `touchgrass
devnet` (a local stand-in for a Mina node). Nothing in the production roles imports this
package (import-linter checks it); it reads settings like the roles do."""
