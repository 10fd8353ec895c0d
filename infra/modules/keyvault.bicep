// Key Vault in RBAC mode holding the app registration's client secret or certificate (PEM with its
// key) and the Sophos Central API credential's client secret, read by the app through Key Vault
// references with its managed identity (Key Vault Secrets User). A secret given empty is not written:
// a redeployment without it keeps the one the vault holds.
param name string
param location string
param tags object
@secure()
param clientSecret string
param clientSecretName string
@secure()
param clientCertificatePem string
param clientCertificateName string
@secure()
param sophosClientSecret string
param sophosClientSecretName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientSecret)) {
  parent: vault
  name: clientSecretName
  properties: {
    value: clientSecret
  }
}

resource certificate 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientCertificatePem)) {
  parent: vault
  name: clientCertificateName
  properties: {
    value: clientCertificatePem
    contentType: 'application/x-pem-file'
  }
}

resource sophosSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(sophosClientSecret)) {
  parent: vault
  name: sophosClientSecretName
  properties: {
    value: sophosClientSecret
  }
}

output id string = vault.id
output name string = vault.name
